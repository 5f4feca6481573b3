"""Run by ``scorecard bi`` with Superset's own Python: import an asset bundle, overwriting.

``superset import-dashboards`` keeps charts and datasets that already exist; this uses Superset's
``ImportAssetsCommand`` (the ``/api/v1/assets/import/`` command), which overwrites everything the
bundle holds, so a changed ``bi/assets`` takes effect on the next ``make bi``.

Usage: python bi/import_assets.py BUNDLE.zip USERNAME
"""

import sys
import zipfile

from superset.app import create_app


def main(bundle_path: str, username: str) -> None:
    app = create_app()
    with app.app_context():
        from superset import security_manager
        from superset.commands.importers.v1.assets import ImportAssetsCommand
        from superset.commands.importers.v1.utils import get_contents_from_bundle
        from superset.utils.core import override_user

        with zipfile.ZipFile(bundle_path) as bundle:
            contents = get_contents_from_bundle(bundle)
        user = security_manager.find_user(username=username)
        if user is None:
            raise SystemExit(f"no Superset user {username!r}")
        with override_user(user):
            ImportAssetsCommand(contents).run()
    print(f"imported {len(contents)} files from {bundle_path}")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])

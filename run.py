"""Start the try-on server from a checkout: python run.py [--port 8000] [--engine auto|classic|catvton|diffusion] ...

Every flag can also be given as an environment variable TRYON_<FLAG> (see --help). An installed
package starts the same way as `tryon-server`; the code is tryon_server/cli.py.
"""

import sys

# Checked before anything is imported: on another Python the imports below would fail with a
# message about a missing module rather than the reason.
SUPPORTED_PYTHONS = ((3, 11), (3, 12))
if sys.version_info[:2] not in SUPPORTED_PYTHONS:
    sys.exit(f"error: this server runs on Python 3.11 or 3.12 (MediaPipe 0.10.21, which it needs, has no "
             f"build for other versions); this is Python {sys.version.split()[0]}. Install python3.12 and make "
             f"the venv with it: python3.12 -m venv .venv")

from tryon_server.cli import main  # noqa: E402  (after the version check, on purpose)

if __name__ == "__main__":
    sys.exit(main())

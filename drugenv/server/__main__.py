"""``python -m drugenv.server --host 127.0.0.1 --port 8000``: see ``drugenv.server.serve.Args``."""

import sys

from drugenv.server.serve import main

if __name__ == "__main__":
    sys.exit(main())

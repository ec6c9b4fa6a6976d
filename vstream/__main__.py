import sys

from vstream.cli import main

sys.exit(main())

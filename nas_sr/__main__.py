import sys

from nas_sr.cli import main

sys.exit(main())

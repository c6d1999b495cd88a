import sys

from joyvasa.cli import main

sys.exit(main())

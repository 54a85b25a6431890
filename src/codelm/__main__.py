import sys

from codelm.cli.main import main

sys.exit(main())

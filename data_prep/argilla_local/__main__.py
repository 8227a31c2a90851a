import sys

from data_prep.argilla_local.server import main

sys.exit(main())

import sys

from fer_video.cli import main

sys.exit(main())

import sys

try:
    from .cli import main
except KeyboardInterrupt:  # Ctrl-C while the CLI itself loads: the same exit as later on
    print("interrupted", file=sys.stderr)
    sys.exit(130)

sys.exit(main())

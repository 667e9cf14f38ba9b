import sys

try:
    from .cli import main
except KeyboardInterrupt:  # Ctrl-C while the CLI itself loads: the same exit as later on
    try:
        print("interrupted", file=sys.stderr)
    except (OSError, ValueError):  # a closed stderr must not turn 130 into 1
        pass
    sys.exit(130)

sys.exit(main())  # main() without arguments ends the process itself (os._exit) with the report's code

import os
import sys

# Import the binding from the source tree; it finds build/libfastweights.so
# itself unless FASTWEIGHTS_LIBRARY names another library.
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "python"))

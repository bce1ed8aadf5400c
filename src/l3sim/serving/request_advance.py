"""The per-request half of the engine's commit: k iterations of a plan applied to the request table.

Decodes each produce k tokens (their stored tokens and generated count grow by k); each prefill chunk adds
its tokens, and a prefill that completes produces its first token (again, after a pre-emption). What the
recorder needs comes back: the tokens stored before and the blocks held after (over the running requests),
the first iteration's token gap of every decode (from its previous token: it may have waited), the gaps of
the re-admitted prefills that completed, how many requests produced tokens, and which finished (whose
stored tokens and reservation are then released). ``Engine._commit`` records them.

``advance_requests`` is plain Python that numba compiles, in place of the twenty-odd numpy calls of
``advance_requests_numpy``; the engine runs the first once numba is loaded, the second before
(``warm_jit.CompiledWhenLoaded``), and ``tests/serving/test_request_advance.py`` checks they agree bit for bit.
"""

from __future__ import annotations

import math

import numpy as np


def advance_requests(decode_ids, prefill_ids, chunks, k, start, end, d0, running, block_tokens, kv_tokens,
                     generated, last_token_s, prefill_done, prefill_target, first_token_s, output_tokens,
                     reserved_blocks, finish_s):
    """Apply k iterations (the first lasting ``d0`` from ``start``, the last ending at ``end``) of a plan to the
    table's arrays, in place. Returns (stored tokens of ``running`` before, blocks they hold after, each decode's
    first gap, the re-admitted prefills that completed and their gaps, how many requests produced tokens, the
    requests that finished)."""
    kv_before = 0
    for rid in running:
        kv_before += kv_tokens[rid]
    decode_gaps = np.empty(decode_ids.size)
    for i in range(decode_ids.size):
        rid = decode_ids[i]
        last = last_token_s[rid]
        decode_gaps[i] = d0 if last == start else start + d0 - last
        kv_tokens[rid] += k
        generated[rid] += k
        last_token_s[rid] = end
    again = np.empty(prefill_ids.size, np.int64)
    again_gaps = np.empty(prefill_ids.size)
    produced = np.empty(decode_ids.size + prefill_ids.size, np.int64)
    produced[: decode_ids.size] = decode_ids
    n_produced, n_again = decode_ids.size, 0
    for i in range(prefill_ids.size):
        rid = prefill_ids[i]
        prefill_done[rid] += chunks[i]
        kv_tokens[rid] += chunks[i]
        if prefill_done[rid] >= prefill_target[rid]:
            if math.isnan(first_token_s[rid]):
                first_token_s[rid] = end
            else:  # re-admitted after a pre-emption
                again[n_again], again_gaps[n_again] = rid, end - last_token_s[rid]
                n_again += 1
            generated[rid] += 1
            last_token_s[rid] = end
            produced[n_produced] = rid
            n_produced += 1
    blocks = 0
    for rid in running:
        blocks += max(reserved_blocks[rid], (kv_tokens[rid] + block_tokens - 1) // block_tokens)
    finished = np.empty(n_produced, np.int64)
    n_finished = 0
    for i in range(n_produced):
        rid = produced[i]
        if generated[rid] >= output_tokens[rid]:
            finished[n_finished] = rid
            n_finished += 1
    for i in range(n_finished):
        rid = finished[i]
        finish_s[rid] = end
        kv_tokens[rid] = 0
        reserved_blocks[rid] = 0
    return kv_before, blocks, decode_gaps, again[:n_again], again_gaps[:n_again], n_produced, finished[:n_finished]


def advance_requests_numpy(decode_ids, prefill_ids, chunks, k, start, end, d0, running, block_tokens, kv_tokens,
                           generated, last_token_s, prefill_done, prefill_target, first_token_s, output_tokens,
                           reserved_blocks, finish_s):
    """``advance_requests`` in numpy: the same arguments, updates and answers (a plan's empty half costs nothing)."""
    kv_before = int(kv_tokens[running].sum())
    last = last_token_s[decode_ids]
    decode_gaps = np.where(last == start, d0, start + d0 - last)
    if decode_ids.size:
        kv_tokens[decode_ids] += k
        generated[decode_ids] += k
        last_token_s[decode_ids] = end
    again, again_gaps, produced = decode_ids[:0], decode_gaps[:0], decode_ids
    if prefill_ids.size:
        prefill_done[prefill_ids] += chunks
        kv_tokens[prefill_ids] += chunks
        done = prefill_ids[prefill_done[prefill_ids] >= prefill_target[prefill_ids]]
        first_time = np.isnan(first_token_s[done])
        again = done[~first_time]  # re-admitted after a pre-emption
        again_gaps = end - last_token_s[again]
        first_token_s[done[first_time]] = end
        generated[done] += 1
        last_token_s[done] = end
        produced = np.concatenate([decode_ids, done])
    blocks = int(np.maximum(reserved_blocks[running], -(-kv_tokens[running] // block_tokens)).sum())
    finished = produced[generated[produced] >= output_tokens[produced]]
    if finished.size:
        finish_s[finished] = end
        kv_tokens[finished] = 0
        reserved_blocks[finished] = 0
    return kv_before, blocks, decode_gaps, again, again_gaps, int(produced.size), finished

"""``history._walk``: the introducing commit and the commits carrying each (blob, path), on
random histories checked against the plain definition (every commit's files, one by one)."""
from __future__ import annotations

import random

import pytest

from scanner.history import _Change, _walk



def _random_history(rng: random.Random, commits: int):
    """Commits in topological order with first parents (merges take the first parent's side),
    changes that set, reset and delete a few paths, sometimes twice in one commit."""
    paths = [f"p{i}".encode() for i in range(6)]
    blobs = [f"{i:040x}" for i in range(8)]
    order: list[str] = []
    first_parent: dict[str, str] = {}
    changes: dict[str, list[_Change]] = {}
    for index in range(commits):
        commit = f"c{index:039d}"
        if order and rng.random() < 0.9:
            first_parent[commit] = rng.choice(order[-5:])  # branches: not always the latest
        elif order or rng.random() < 0.5:
            first_parent[commit] = "outside" + str(rng.randrange(2))  # parent outside the range
        mine = []
        for _ in range(rng.choice((0, 0, 1, 1, 2, 3))):
            blob = None if rng.random() < 0.2 else rng.choice(blobs)
            mine.append(_Change(commit, rng.choice(paths), blob))
        if mine:
            changes[commit] = mine
        order.append(commit)
    seeds = {"outside0": {paths[0]: blobs[0], paths[1]: blobs[1]}, "outside1": {}}
    wanted = {(blob, path) for blob in blobs for path in paths if rng.random() < 0.6}
    return order, first_parent, changes, seeds, wanted


def _by_definition(order, first_parent, changes, seeds, wanted):
    """Each commit's files from its first parent's (a seed, or nothing, outside the range)."""
    files: dict[str, dict[bytes, str]] = {}
    first: dict[tuple[str, bytes], str] = {}
    carrying: dict[tuple[str, bytes], int] = {}
    for commit in order:
        parent = first_parent.get(commit, "")
        state = dict(files[parent]) if parent in files else dict(seeds.get(parent, {}))
        for change in changes.get(commit, ()):
            if change.blob is None:
                state.pop(change.path, None)
            else:
                state[change.path] = change.blob
                first.setdefault((change.blob, change.path), commit)
        files[commit] = state
        for path, blob in state.items():
            if (blob, path) in wanted:
                carrying[(blob, path)] = carrying.get((blob, path), 0) + 1
    return {key: commit for key, commit in first.items() if key in wanted}, carrying


@pytest.mark.parametrize("seed", range(40))
def test_walk_counts_what_every_commits_files_say(seed):
    rng = random.Random(seed)
    order, first_parent, changes, seeds, wanted = _random_history(rng, rng.randint(1, 60))
    if seed % 2:  # a full-history scan: parents outside the range start from nothing
        seeds = {}
    found, carrying = _walk(order, first_parent, changes, {}, wanted, seeds or None)
    expected_first, expected_carrying = _by_definition(order, first_parent, changes, seeds, wanted)
    assert carrying == expected_carrying
    assert {key: intro.commit for key, intro in found.items()} == expected_first
    for key, intro in found.items():
        assert intro.carrying == expected_carrying.get(key, 0)
        assert order[intro.order] == intro.commit

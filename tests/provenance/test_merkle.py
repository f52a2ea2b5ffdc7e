"""RFC 6962 / 9162 Merkle tree: reference vectors, a naive model, and strict verifiers."""

import hashlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from provenance import merkle
from provenance.errors import ProofError

# RFC 6962 reference test vectors (as used by certificate-transparency-go and trillian).
LEAVES = [
    bytes.fromhex(h)
    for h in (
        "",
        "00",
        "10",
        "2021",
        "3031",
        "40414243",
        "5051525354555657",
        "606162636465666768696a6b6c6d6e6f",
    )
]
ROOTS = [
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
]
# Inclusion paths from the same reference set: (leaf index, tree size, path).
INCLUSION = [
    (
        0,
        8,
        [
            "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
        ],
    ),
    (
        5,
        8,
        [
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ],
    ),
    (2, 3, ["fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"]),
    (
        1,
        5,
        [
            "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        ],
    ),
]
CONSISTENCY = [
    (1, 1, []),
    (
        1,
        8,
        [
            "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
        ],
    ),
    (
        6,
        8,
        [
            "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ],
    ),
    (
        2,
        5,
        [
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        ],
    ),
]
HASHES = [merkle.leaf_hash(x) for x in LEAVES]


def naive_mth(d):
    """RFC 6962 §2.1 MTH, literally."""
    if not d:
        return hashlib.sha256(b"").digest()
    if len(d) == 1:
        return d[0]
    k = 1 << ((len(d) - 1).bit_length() - 1)
    return merkle.node_hash(naive_mth(d[:k]), naive_mth(d[k:]))


def naive_path(m, d):
    """RFC 6962 §2.1.1 PATH(m, D[n]), literally."""
    if len(d) == 1:
        return []
    k = 1 << ((len(d) - 1).bit_length() - 1)
    if m < k:
        return [*naive_path(m, d[:k]), naive_mth(d[k:])]
    return [*naive_path(m - k, d[k:]), naive_mth(d[:k])]


def naive_subproof(m, d, b):
    """RFC 6962 §2.1.2 SUBPROOF(m, D[n], b), literally."""
    n = len(d)
    if m == n:
        return [] if b else [naive_mth(d)]
    k = 1 << ((n - 1).bit_length() - 1)
    if m <= k:
        return [*naive_subproof(m, d[:k], b), naive_mth(d[k:])]
    return [*naive_subproof(m - k, d[k:], False), naive_mth(d[:k])]


def range_hash_of(leaves):
    return lambda s, e: naive_mth(leaves[s:e])


def test_reference_roots():
    for n in range(1, 9):
        assert merkle.root_from_leaves(HASHES[:n]).hex() == ROOTS[n - 1]


@pytest.mark.parametrize(("index", "size", "path"), INCLUSION)
def test_reference_inclusion_proofs(index, size, path):
    proof = merkle.inclusion_proof(index, size, range_hash_of(HASHES))
    assert [h.hex() for h in proof] == path
    merkle.verify_inclusion(HASHES[index], index, size, proof, bytes.fromhex(ROOTS[size - 1]))


@pytest.mark.parametrize(("old", "new", "path"), CONSISTENCY)
def test_reference_consistency_proofs(old, new, path):
    proof = merkle.consistency_proof(old, new, range_hash_of(HASHES))
    assert [h.hex() for h in proof] == path
    merkle.verify_consistency(
        old, new, bytes.fromhex(ROOTS[old - 1]), bytes.fromhex(ROOTS[new - 1]), proof
    )


def _leaves(n):
    return [merkle.leaf_hash(i.to_bytes(4, "big")) for i in range(n)]


def test_every_size_up_to_300_matches_the_naive_tree():
    leaves = _leaves(300)
    for n in range(1, 301):
        assert merkle.root_from_leaves(leaves[:n]) == naive_mth(leaves[:n])
        assert merkle.fold_blocks(
            [naive_mth(leaves[s << lv : (s + 1) << lv]) for lv, s in merkle.subtree_blocks(0, n)]
        ) == naive_mth(leaves[:n])


@settings(max_examples=400)
@given(st.integers(1, 300).flatmap(lambda n: st.tuples(st.just(n), st.integers(0, n - 1))))
def test_inclusion_proofs_match_rfc_path_and_verify(case):
    n, m = case
    leaves = _leaves(n)
    proof = merkle.inclusion_proof(m, n, range_hash_of(leaves))
    assert proof == naive_path(m, leaves)
    merkle.verify_inclusion(leaves[m], m, n, proof, naive_mth(leaves))


@settings(max_examples=400)
@given(st.integers(1, 300).flatmap(lambda n: st.tuples(st.integers(1, n), st.just(n))))
def test_consistency_proofs_match_rfc_subproof_and_verify(case):
    m, n = case
    leaves = _leaves(n)
    proof = merkle.consistency_proof(m, n, range_hash_of(leaves))
    assert proof == naive_subproof(m, leaves, True)
    merkle.verify_consistency(m, n, naive_mth(leaves[:m]), naive_mth(leaves), proof)


def _mutations(proof):
    """Every truncation, extension, reordering and single bit flip of a proof."""
    for i in range(len(proof)):
        yield "truncated", proof[:i]
    yield "extended", [*proof, bytes(32)]
    yield "extended-front", [bytes(32), *proof]
    for i in range(len(proof) - 1):
        if proof[i] != proof[i + 1]:
            swapped = list(proof)
            swapped[i], swapped[i + 1] = swapped[i + 1], swapped[i]
            yield "reordered", swapped
    for i, h in enumerate(proof):
        for bit in (0, 77, 255):
            flipped = bytearray(h)
            flipped[bit // 8] ^= 1 << (bit % 8)
            yield "bit-flip", [*proof[:i], bytes(flipped), *proof[i + 1 :]]


@settings(max_examples=150)
@given(st.integers(2, 70).flatmap(lambda n: st.tuples(st.just(n), st.integers(0, n - 1))))
def test_inclusion_verifier_rejects_every_tampered_proof(case):
    n, m = case
    leaves = _leaves(n)
    root = naive_mth(leaves)
    proof = merkle.inclusion_proof(m, n, range_hash_of(leaves))
    for what, bad in _mutations(proof):
        with pytest.raises(ProofError):
            merkle.verify_inclusion(leaves[m], m, n, bad, root)
            pytest.fail(f"accepted a {what} proof")
    for wrong_index in {m - 1, m + 1} - {m, -1, n}:
        with pytest.raises(ProofError):
            merkle.verify_inclusion(leaves[m], wrong_index, n, proof, root)
    with pytest.raises(ProofError):  # the root of a different tree
        merkle.verify_inclusion(leaves[m], m, n, proof, naive_mth(leaves[:-1]))
    with pytest.raises(ProofError):  # another leaf
        merkle.verify_inclusion(merkle.leaf_hash(b"forged"), m, n, proof, root)


@settings(max_examples=150)
@given(st.integers(2, 70).flatmap(lambda n: st.tuples(st.integers(1, n - 1), st.just(n))))
def test_consistency_verifier_rejects_every_tampered_proof(case):
    m, n = case
    leaves = _leaves(n)
    old, new = naive_mth(leaves[:m]), naive_mth(leaves)
    proof = merkle.consistency_proof(m, n, range_hash_of(leaves))
    for what, bad in _mutations(proof):
        with pytest.raises(ProofError):
            merkle.verify_consistency(m, n, old, new, bad)
            pytest.fail(f"accepted a {what} proof")
    with pytest.raises(ProofError):
        merkle.verify_consistency(m, n, new, old, proof)
    with pytest.raises(ProofError):  # an old root that is not a prefix
        merkle.verify_consistency(m, n, merkle.leaf_hash(b"forged"), new, proof)


def test_verifiers_reject_out_of_range_arguments():
    leaves = _leaves(4)
    root = naive_mth(leaves)
    with pytest.raises(ProofError):
        merkle.verify_inclusion(leaves[0], 4, 4, [], root)
    with pytest.raises(ProofError):
        merkle.verify_consistency(0, 4, root, root, [])
    with pytest.raises(ProofError):
        merkle.verify_consistency(5, 4, root, root, [])
    with pytest.raises(ProofError):
        merkle.verify_consistency(4, 4, root, root, [root])
    with pytest.raises(ProofError):
        merkle.verify_inclusion(b"short", 0, 4, [], root)

"""Independent encoder for the HTLC known-answer test: python-bitcoinlib builds the witness
script and the P2WSH address from the same parameters; the Rust test compares.

Usage: htlc_bitcoinlib.py HASHLOCK_HEX CLAIM_PUBKEY_HEX REFUND_PUBKEY_HEX TIMEOUT_HEIGHT
Prints one JSON object: {"script": hex, "mainnet": addr, "testnet": addr, "signet": addr,
"regtest": addr}.
"""
import hashlib
import json
import sys

import bitcoin
from bitcoin.core import b2x, x
from bitcoin.core.script import (
    OP_0, OP_CHECKLOCKTIMEVERIFY, OP_CHECKSIG, OP_DROP, OP_ELSE, OP_ENDIF, OP_EQUALVERIFY, OP_IF,
    OP_SHA256, OP_SIZE, CScript,
)
from bitcoin.wallet import CBitcoinAddress


def main() -> None:
    h, claim, refund, timeout = sys.argv[1:5]
    script = CScript([
        OP_IF, OP_SIZE, 32, OP_EQUALVERIFY, OP_SHA256, x(h), OP_EQUALVERIFY, x(claim),
        OP_ELSE, int(timeout), OP_CHECKLOCKTIMEVERIFY, OP_DROP, x(refund),
        OP_ENDIF, OP_CHECKSIG,
    ])
    out = {"script": b2x(script)}
    spk = CScript([OP_0, hashlib.sha256(script).digest()])
    for net in ("mainnet", "testnet", "signet", "regtest"):
        bitcoin.SelectParams(net)
        out[net] = str(CBitcoinAddress.from_scriptPubKey(spk))
    print(json.dumps(out))


if __name__ == "__main__":
    main()

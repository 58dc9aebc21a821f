// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {SafeTransferLib} from "solady/utils/SafeTransferLib.sol";

/// @title Escrow: hash time-locked swaps of native ETH and ERC-20 tokens.
/// @notice One contract for every swap. No owner, no admin, no upgrade path, no pause.
///
/// A swap is identified by `id = keccak256(abi.encode(hashlock, sender, receiver, token, amount,
/// timeout))`. The contract keeps one storage slot per swap, its status, keyed by that id;
/// `claim` and `refund` take the parameters back as calldata and recompute the id, so nothing
/// but the status is ever stored. The id contains `sender = msg.sender`, so nobody can occupy
/// someone else's id ahead of them.
///
/// Time windows are disjoint: `claim` works strictly before `timeout`, `refund` from `timeout` on.
/// Once the timeout has passed the claim can no longer win, so refunding is never a race.
///
/// Ids are never reused: a claimed or refunded swap keeps its tombstone, so an id seen in a log
/// names one swap forever and a second `lock` with the same parameters is rejected.
contract Escrow {
    /// @notice The parameters of one swap, as passed back to `claim` and `refund`.
    struct Swap {
        bytes32 hashlock; // sha256 of the 32-byte secret; never keccak (Bitcoin script cannot check it)
        address sender; // who locked the funds; receives the refund
        address receiver; // receives the funds on claim
        address token; // address(0) for native ETH
        uint256 amount; // in the token's base units (wei for ETH)
        uint256 timeout; // unix seconds; claim strictly before, refund from then on
    }

    enum Status {
        None,
        Locked,
        Claimed,
        Refunded
    }

    /// @notice Upper bound on how far ahead a timeout may lie. It catches a timeout given in
    /// milliseconds or blocks instead of seconds, which would freeze the funds for ages; the
    /// longest leg the protocol uses (the source leg, twice the destination window) is days.
    uint256 public constant MAX_TIMEOUT_WINDOW = 30 days;

    /// @notice The status of every swap ever locked, keyed by its id.
    mapping(bytes32 id => Status) public status;

    /// @notice A swap was locked. Carries every parameter, so a watcher rebuilds the swap (and its
    /// id) from this log alone.
    event Locked(
        bytes32 indexed id,
        bytes32 indexed hashlock,
        address indexed receiver,
        address sender,
        address token,
        uint256 amount,
        uint256 timeout
    );
    /// @notice A swap was claimed; the preimage is public from now on.
    event Claimed(bytes32 indexed id, bytes32 preimage);
    /// @notice A swap was refunded to its sender.
    event Refunded(bytes32 indexed id);

    /// @notice `amount` was zero.
    error ZeroAmount();
    /// @notice `timeout` was not after the current block's timestamp.
    error TimeoutNotInFuture(uint256 timeout);
    /// @notice `timeout` was more than `MAX_TIMEOUT_WINDOW` after the current block's timestamp.
    error TimeoutTooFar(uint256 timeout);
    /// @notice A swap with the same parameters (so the same id) exists or existed.
    error SwapExists(bytes32 id);
    /// @notice `msg.value` did not match: `amount` for native ETH, zero for a token.
    error ValueMismatch(uint256 expected, uint256 sent);
    /// @notice The token delivered a different amount than requested (fee-on-transfer, rebasing).
    error AmountNotDelivered(uint256 expected, uint256 delivered);
    /// @notice No swap with these parameters was ever locked.
    error UnknownSwap(bytes32 id);
    /// @notice The swap was already claimed.
    error AlreadyClaimed(bytes32 id);
    /// @notice The swap was already refunded.
    error AlreadyRefunded(bytes32 id);
    /// @notice sha256(preimage) is not the swap's hashlock.
    error WrongPreimage();
    /// @notice The claim came at or after the timeout.
    error ClaimWindowClosed(uint256 timeout);
    /// @notice The refund came before the timeout.
    error RefundNotYetAllowed(uint256 timeout);

    /// @notice Locks `amount` of `token` (native ETH when `token` is zero) for `receiver`, claimable
    /// with the preimage of `hashlock` before `timeout`, refundable to `msg.sender` from then on.
    /// For a token, the caller must have approved this contract for `amount`.
    function lock(bytes32 hashlock, address receiver, address token, uint256 amount, uint256 timeout)
        external
        payable
        returns (bytes32 id)
    {
        if (amount == 0) revert ZeroAmount();
        if (timeout <= block.timestamp) revert TimeoutNotInFuture(timeout);
        unchecked {
            // block.timestamp + 30 days cannot overflow.
            if (timeout > block.timestamp + MAX_TIMEOUT_WINDOW) revert TimeoutTooFar(timeout);
        }
        if (msg.value != (token == address(0) ? amount : 0)) {
            revert ValueMismatch(token == address(0) ? amount : 0, msg.value);
        }
        id = _id(hashlock, msg.sender, receiver, token, amount, timeout);
        if (status[id] != Status.None) revert SwapExists(id);

        // Effects before interactions: a token that calls back into the escrow during the
        // transfer already sees this swap as locked.
        status[id] = Status.Locked;

        if (token != address(0)) {
            uint256 before = SafeTransferLib.balanceOf(token, address(this));
            SafeTransferLib.safeTransferFrom(token, msg.sender, address(this), amount);
            uint256 delivered = SafeTransferLib.balanceOf(token, address(this)) - before;
            // Exact equality also defeats a re-entrant claim or lock during the transfer: either
            // would move the balance by more or less than `amount`.
            if (delivered != amount) revert AmountNotDelivered(amount, delivered);
        }

        emit Locked(id, hashlock, receiver, msg.sender, token, amount, timeout);
    }

    /// @notice Pays the swap to its receiver. Anyone may call it, strictly before the timeout.
    function claim(Swap calldata swap, bytes32 preimage) external {
        bytes32 id = _idOf(swap);
        _requireLocked(id);
        if (block.timestamp >= swap.timeout) revert ClaimWindowClosed(swap.timeout);
        if (sha256(abi.encodePacked(preimage)) != swap.hashlock) revert WrongPreimage();

        status[id] = Status.Claimed;
        emit Claimed(id, preimage);
        _pay(swap.token, swap.receiver, swap.amount);
    }

    /// @notice Pays the swap back to its sender. Anyone may call it, from the timeout on.
    function refund(Swap calldata swap) external {
        bytes32 id = _idOf(swap);
        _requireLocked(id);
        if (block.timestamp < swap.timeout) revert RefundNotYetAllowed(swap.timeout);

        status[id] = Status.Refunded;
        emit Refunded(id);
        _pay(swap.token, swap.sender, swap.amount);
    }

    /// @notice The id of a swap with these parameters.
    function swapId(Swap calldata swap) external pure returns (bytes32) {
        return _idOf(swap);
    }

    function _requireLocked(bytes32 id) private view {
        Status s = status[id];
        if (s == Status.Locked) return;
        if (s == Status.None) revert UnknownSwap(id);
        if (s == Status.Claimed) revert AlreadyClaimed(id);
        revert AlreadyRefunded(id);
    }

    function _pay(address token, address to, uint256 amount) private {
        if (token == address(0)) {
            SafeTransferLib.safeTransferETH(to, amount);
        } else {
            SafeTransferLib.safeTransfer(token, to, amount);
        }
    }

    /// The id of a swap passed as calldata: keccak256 of its six words as they stand, which is
    /// `abi.encode` of the fields for any well-formed call. A malformed address (dirty upper
    /// bits) hashes to an id that was never locked, so the call reverts with `UnknownSwap`.
    function _idOf(Swap calldata swap) private pure returns (bytes32 id) {
        assembly ("memory-safe") {
            let ptr := mload(0x40)
            calldatacopy(ptr, swap, 0xc0)
            id := keccak256(ptr, 0xc0)
        }
    }

    function _id(
        bytes32 hashlock,
        address sender,
        address receiver,
        address token,
        uint256 amount,
        uint256 timeout
    ) private pure returns (bytes32) {
        return keccak256(abi.encode(hashlock, sender, receiver, token, amount, timeout));
    }
}

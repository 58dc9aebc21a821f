// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {Base, Log} from "./utils/Base.sol";
import {TestToken, FeeToken, NoBoolToken, FalseToken, HookToken} from "./mocks/Tokens.sol";
import {Escrow} from "../src/Escrow.sol";
import {SafeTransferLib} from "solady/utils/SafeTransferLib.sol";

/// Refuses ETH.
contract RejectingReceiver {}

/// Tries to claim or refund the same swap again while being paid, and remembers the outcome.
contract ReenteringReceiver {
    Escrow internal immutable escrow;
    Escrow.Swap internal swap;
    bytes32 internal preimage;
    bool public reentrySucceeded;
    bool public reentered;

    constructor(Escrow escrow_) {
        escrow = escrow_;
    }

    function arm(Escrow.Swap calldata swap_, bytes32 preimage_) external {
        swap = swap_;
        preimage = preimage_;
    }

    receive() external payable {
        if (reentered) return;
        reentered = true;
        (bool claimOk,) = address(escrow).call(abi.encodeCall(Escrow.claim, (swap, preimage)));
        (bool refundOk,) = address(escrow).call(abi.encodeCall(Escrow.refund, (swap)));
        reentrySucceeded = claimOk || refundOk;
    }
}

contract EscrowTest is Base {
    Escrow internal escrow;
    TestToken internal token;

    address internal alice = address(0xA11CE);
    address internal bob = address(0xB0B);
    address internal carol = address(0xCA201);

    bytes32 internal constant PREIMAGE = keccak256("the secret");
    bytes32 internal hashlock;
    uint256 internal constant AMOUNT = 1.5 ether;
    uint256 internal timeout;

    function setUp() public {
        vm.warp(1_800_000_000);
        escrow = new Escrow();
        token = new TestToken();
        hashlock = sha256(abi.encodePacked(PREIMAGE));
        timeout = block.timestamp + 1 days;
        vm.deal(alice, 100 ether);
        token.mint(alice, 100 ether);
        vm.prank(alice);
        token.approve(address(escrow), type(uint256).max);
    }

    // ---- helpers ----

    function _swap(address tokenAddr) internal view returns (Escrow.Swap memory) {
        return Escrow.Swap(hashlock, alice, bob, tokenAddr, AMOUNT, timeout);
    }

    function _lockEth() internal returns (Escrow.Swap memory s, bytes32 id) {
        s = _swap(address(0));
        vm.prank(alice);
        id = escrow.lock{value: AMOUNT}(hashlock, bob, address(0), AMOUNT, timeout);
    }

    function _lockToken() internal returns (Escrow.Swap memory s, bytes32 id) {
        s = _swap(address(token));
        vm.prank(alice);
        id = escrow.lock(hashlock, bob, address(token), AMOUNT, timeout);
    }

    function _status(bytes32 id) internal view returns (uint256) {
        return uint256(escrow.status(id));
    }

    // ---- lock ----

    function test_lock_eth_records_swap_and_emits_everything() public {
        Escrow.Swap memory s = _swap(address(0));
        bytes32 expected = escrow.swapId(s);
        vm.expectEmit(true, true, true, true, address(escrow));
        emit Escrow.Locked(expected, hashlock, bob, alice, address(0), AMOUNT, timeout);
        (, bytes32 id) = _lockEth();
        vm.assertEq(id, expected, "id");
        vm.assertEq(
            id, keccak256(abi.encode(hashlock, alice, bob, address(0), AMOUNT, timeout)), "id derivation"
        );
        vm.assertEq(_status(id), 1, "status Locked");
        vm.assertEq(address(escrow).balance, AMOUNT, "escrow balance");
        vm.assertEq(alice.balance, 100 ether - AMOUNT, "alice balance");
    }

    function test_lock_token_pulls_exact_amount() public {
        Escrow.Swap memory s = _swap(address(token));
        vm.expectEmit(true, true, true, true, address(escrow));
        emit Escrow.Locked(escrow.swapId(s), hashlock, bob, alice, address(token), AMOUNT, timeout);
        (, bytes32 id) = _lockToken();
        vm.assertEq(_status(id), 1, "status Locked");
        vm.assertEq(token.balanceOf(address(escrow)), AMOUNT, "escrow balance");
        vm.assertEq(token.balanceOf(alice), 100 ether - AMOUNT, "alice balance");
    }

    function test_lock_log_alone_rebuilds_the_swap() public {
        vm.recordLogs();
        (Escrow.Swap memory s, bytes32 id) = _lockToken();
        Log[] memory logs = vm.getRecordedLogs();
        Log memory l = logs[logs.length - 1];
        vm.assertEq(l.topics[0], Escrow.Locked.selector, "topic0");
        (address sender, address tokenAddr, uint256 amount, uint256 t) =
            abi.decode(l.data, (address, address, uint256, uint256));
        Escrow.Swap memory rebuilt =
            Escrow.Swap(l.topics[2], sender, address(uint160(uint256(l.topics[3]))), tokenAddr, amount, t);
        vm.assertEq(escrow.swapId(rebuilt), id, "rebuilt id");
        vm.assertEq(l.topics[1], id, "id topic");
        vm.assertEq(keccak256(abi.encode(rebuilt)), keccak256(abi.encode(s)), "rebuilt params");
    }

    function test_lock_rejects_zero_amount() public {
        vm.prank(alice);
        vm.expectRevert(Escrow.ZeroAmount.selector);
        escrow.lock(hashlock, bob, address(0), 0, timeout);
        vm.prank(alice);
        vm.expectRevert(Escrow.ZeroAmount.selector);
        escrow.lock(hashlock, bob, address(token), 0, timeout);
    }

    function test_lock_rejects_timeout_now_or_past() public {
        vm.prank(alice);
        vm.expectRevert(abi.encodeWithSelector(Escrow.TimeoutNotInFuture.selector, block.timestamp));
        escrow.lock{value: AMOUNT}(hashlock, bob, address(0), AMOUNT, block.timestamp);
        vm.prank(alice);
        vm.expectRevert(abi.encodeWithSelector(Escrow.TimeoutNotInFuture.selector, block.timestamp - 1));
        escrow.lock{value: AMOUNT}(hashlock, bob, address(0), AMOUNT, block.timestamp - 1);
    }

    function test_lock_rejects_timeout_too_far() public {
        uint256 tooFar = block.timestamp + escrow.MAX_TIMEOUT_WINDOW() + 1;
        vm.prank(alice);
        vm.expectRevert(abi.encodeWithSelector(Escrow.TimeoutTooFar.selector, tooFar));
        escrow.lock{value: AMOUNT}(hashlock, bob, address(0), AMOUNT, tooFar);
        // A timeout in milliseconds is the mistake this bound exists for.
        uint256 millis = block.timestamp * 1000;
        vm.prank(alice);
        vm.expectRevert(abi.encodeWithSelector(Escrow.TimeoutTooFar.selector, millis));
        escrow.lock(hashlock, bob, address(token), AMOUNT, millis);
    }

    function test_lock_accepts_timeout_at_the_window_edge() public {
        uint256 edge = block.timestamp + escrow.MAX_TIMEOUT_WINDOW();
        vm.prank(alice);
        bytes32 id = escrow.lock{value: AMOUNT}(hashlock, bob, address(0), AMOUNT, edge);
        vm.assertEq(_status(id), 1, "status Locked");
    }

    function test_lock_rejects_duplicate_eth() public {
        (, bytes32 id) = _lockEth();
        vm.prank(alice);
        vm.expectRevert(abi.encodeWithSelector(Escrow.SwapExists.selector, id));
        escrow.lock{value: AMOUNT}(hashlock, bob, address(0), AMOUNT, timeout);
    }

    function test_lock_rejects_duplicate_token() public {
        (, bytes32 id) = _lockToken();
        vm.prank(alice);
        vm.expectRevert(abi.encodeWithSelector(Escrow.SwapExists.selector, id));
        escrow.lock(hashlock, bob, address(token), AMOUNT, timeout);
    }

    function test_lock_rejects_relock_of_a_finished_swap() public {
        (Escrow.Swap memory s, bytes32 id) = _lockEth();
        escrow.claim(s, PREIMAGE);
        vm.prank(alice);
        vm.expectRevert(abi.encodeWithSelector(Escrow.SwapExists.selector, id));
        escrow.lock{value: AMOUNT}(hashlock, bob, address(0), AMOUNT, timeout);
    }

    function test_lock_same_hashlock_by_another_sender_is_a_different_swap() public {
        (, bytes32 id) = _lockEth();
        vm.deal(carol, AMOUNT);
        vm.prank(carol);
        bytes32 other = escrow.lock{value: AMOUNT}(hashlock, bob, address(0), AMOUNT, timeout);
        vm.assertTrue(other != id, "ids differ");
    }

    function test_lock_eth_rejects_value_mismatch() public {
        vm.prank(alice);
        vm.expectRevert(abi.encodeWithSelector(Escrow.ValueMismatch.selector, AMOUNT, AMOUNT - 1));
        escrow.lock{value: AMOUNT - 1}(hashlock, bob, address(0), AMOUNT, timeout);
        vm.prank(alice);
        vm.expectRevert(abi.encodeWithSelector(Escrow.ValueMismatch.selector, AMOUNT, AMOUNT + 1));
        escrow.lock{value: AMOUNT + 1}(hashlock, bob, address(0), AMOUNT, timeout);
    }

    function test_lock_token_rejects_eth_sent_along() public {
        vm.prank(alice);
        vm.expectRevert(abi.encodeWithSelector(Escrow.ValueMismatch.selector, 0, 1));
        escrow.lock{value: 1}(hashlock, bob, address(token), AMOUNT, timeout);
    }

    function test_lock_rejects_fee_on_transfer_token() public {
        FeeToken fee = new FeeToken();
        fee.mint(alice, 100 ether);
        vm.prank(alice);
        fee.approve(address(escrow), type(uint256).max);
        vm.prank(alice);
        vm.expectRevert(
            abi.encodeWithSelector(Escrow.AmountNotDelivered.selector, AMOUNT, AMOUNT - AMOUNT / 100)
        );
        escrow.lock(hashlock, bob, address(fee), AMOUNT, timeout);
        vm.assertEq(fee.balanceOf(address(escrow)), 0, "nothing kept");
    }

    function test_lock_rejects_token_without_allowance() public {
        vm.prank(alice);
        token.approve(address(escrow), AMOUNT - 1);
        vm.prank(alice);
        vm.expectRevert(SafeTransferLib.TransferFromFailed.selector);
        escrow.lock(hashlock, bob, address(token), AMOUNT, timeout);
    }

    function test_lock_rejects_token_returning_false() public {
        FalseToken bad = new FalseToken();
        vm.prank(alice);
        vm.expectRevert(SafeTransferLib.TransferFromFailed.selector);
        escrow.lock(hashlock, bob, address(bad), AMOUNT, timeout);
    }

    function test_lock_rejects_token_address_without_code() public {
        vm.prank(alice);
        vm.expectRevert(SafeTransferLib.TransferFromFailed.selector);
        escrow.lock(hashlock, bob, address(0xDEAD), AMOUNT, timeout);
    }

    function test_lock_rejects_reentrant_claim_during_token_pull() public {
        HookToken hook = new HookToken();
        hook.mint(alice, 10 ether);
        hook.mint(address(this), 10 ether);
        hook.approve(address(escrow), type(uint256).max);
        vm.prank(alice);
        hook.approve(address(escrow), type(uint256).max);
        // An honest swap of the same token already sits in the escrow.
        escrow.lock(hashlock, bob, address(hook), AMOUNT, timeout);
        // Alice locks a swap whose preimage she knows and, from inside the token transfer, tries
        // to claim it before the tokens have arrived, paying it out of the honest swap's tokens.
        bytes32 aliceSecret = bytes32(uint256(7));
        bytes32 aliceLock = sha256(abi.encodePacked(aliceSecret));
        Escrow.Swap memory s = Escrow.Swap(aliceLock, alice, carol, address(hook), AMOUNT, timeout);
        hook.setHook(address(escrow), abi.encodeCall(Escrow.claim, (s, aliceSecret)));
        vm.prank(alice);
        vm.expectRevert(abi.encodeWithSelector(Escrow.AmountNotDelivered.selector, AMOUNT, 0));
        escrow.lock(aliceLock, carol, address(hook), AMOUNT, timeout);
        vm.assertEq(hook.balanceOf(address(escrow)), AMOUNT, "honest swap intact");
        vm.assertEq(hook.balanceOf(carol), 0, "nothing paid out");
    }

    function test_lock_rejects_reentrant_lock_during_token_pull() public {
        HookToken hook = new HookToken();
        hook.mint(alice, 10 ether);
        vm.prank(alice);
        hook.approve(address(escrow), type(uint256).max);
        hook.setHook(
            address(escrow),
            abi.encodeCall(Escrow.lock, (bytes32(uint256(1)), bob, address(hook), 1, timeout))
        );
        vm.prank(alice);
        vm.expectRevert(); // the nested lock runs as the token, which holds no tokens
        escrow.lock(hashlock, bob, address(hook), AMOUNT, timeout);
        vm.assertEq(hook.balanceOf(address(escrow)), 0, "nothing kept");
    }

    // ---- claim ----

    function test_claim_eth_by_anyone_pays_receiver_and_reveals_preimage() public {
        (Escrow.Swap memory s, bytes32 id) = _lockEth();
        vm.expectEmit(true, true, true, true, address(escrow));
        emit Escrow.Claimed(id, PREIMAGE);
        vm.prank(carol);
        escrow.claim(s, PREIMAGE);
        vm.assertEq(bob.balance, AMOUNT, "bob paid");
        vm.assertEq(address(escrow).balance, 0, "escrow empty");
        vm.assertEq(_status(id), 2, "status Claimed");
    }

    function test_claim_token_by_anyone_pays_receiver() public {
        (Escrow.Swap memory s, bytes32 id) = _lockToken();
        vm.expectEmit(true, true, true, true, address(escrow));
        emit Escrow.Claimed(id, PREIMAGE);
        vm.prank(carol);
        escrow.claim(s, PREIMAGE);
        vm.assertEq(token.balanceOf(bob), AMOUNT, "bob paid");
        vm.assertEq(token.balanceOf(address(escrow)), 0, "escrow empty");
    }

    function test_claim_just_before_timeout() public {
        (Escrow.Swap memory s,) = _lockEth();
        vm.warp(timeout - 1);
        escrow.claim(s, PREIMAGE);
        vm.assertEq(bob.balance, AMOUNT, "bob paid");
    }

    function test_claim_rejects_wrong_preimage() public {
        (Escrow.Swap memory s,) = _lockEth();
        vm.expectRevert(Escrow.WrongPreimage.selector);
        escrow.claim(s, bytes32(uint256(PREIMAGE) + 1));
        // keccak of the secret is not the hashlock either: sha256 only.
        vm.expectRevert(Escrow.WrongPreimage.selector);
        escrow.claim(s, keccak256(abi.encodePacked(PREIMAGE)));
    }

    function test_claim_rejects_unknown_swap() public {
        (Escrow.Swap memory s,) = _lockEth();
        s.amount += 1;
        vm.expectRevert(abi.encodeWithSelector(Escrow.UnknownSwap.selector, escrow.swapId(s)));
        escrow.claim(s, PREIMAGE);
        s.amount -= 1;
        s.receiver = carol; // redirecting the payout changes the id
        vm.expectRevert(abi.encodeWithSelector(Escrow.UnknownSwap.selector, escrow.swapId(s)));
        escrow.claim(s, PREIMAGE);
    }

    function test_claim_rejects_at_and_after_timeout() public {
        (Escrow.Swap memory s,) = _lockToken();
        vm.warp(timeout);
        vm.expectRevert(abi.encodeWithSelector(Escrow.ClaimWindowClosed.selector, timeout));
        escrow.claim(s, PREIMAGE);
        vm.warp(timeout + 1 days);
        vm.expectRevert(abi.encodeWithSelector(Escrow.ClaimWindowClosed.selector, timeout));
        escrow.claim(s, PREIMAGE);
    }

    function test_claim_rejects_second_claim() public {
        (Escrow.Swap memory s, bytes32 id) = _lockEth();
        escrow.claim(s, PREIMAGE);
        vm.expectRevert(abi.encodeWithSelector(Escrow.AlreadyClaimed.selector, id));
        escrow.claim(s, PREIMAGE);
    }

    function test_claim_rejects_after_refund() public {
        (Escrow.Swap memory s, bytes32 id) = _lockToken();
        vm.warp(timeout);
        escrow.refund(s);
        vm.warp(timeout - 1); // even if time could run backwards
        vm.expectRevert(abi.encodeWithSelector(Escrow.AlreadyRefunded.selector, id));
        escrow.claim(s, PREIMAGE);
    }

    function test_claim_rejects_short_preimage_calldata() public {
        (Escrow.Swap memory s, bytes32 id) = _lockEth();
        bytes memory full = abi.encodeCall(Escrow.claim, (s, PREIMAGE));
        for (uint256 cut = 1; cut <= 32; cut++) {
            bytes memory short = new bytes(full.length - cut);
            for (uint256 i = 0; i < short.length; i++) {
                short[i] = full[i];
            }
            (bool ok,) = address(escrow).call(short);
            vm.assertTrue(!ok, "short calldata must revert");
        }
        vm.assertEq(_status(id), 1, "still Locked");
        (bool fullOk,) = address(escrow).call(full);
        vm.assertTrue(fullOk, "exact calldata claims");
    }

    /// Reliability row 10: a hashlock made from a secret of any length but 32 (0..600 bytes) can
    /// never be claimed, whatever bytes follow the selector and the swap in calldata.
    function test_secrets_of_every_other_length_cannot_claim() public {
        vm.deal(alice, 1000 ether);
        for (uint256 len = 0; len <= 600; len++) {
            if (len == 32) continue;
            bytes memory secret = new bytes(len);
            for (uint256 i = 0; i < len; i++) {
                // forge-lint: disable-next-line(unsafe-typecast)
                secret[i] = bytes1(uint8(i * 7 + len)); // truncation wanted: any byte pattern
            }
            bytes32 h = sha256(secret);
            vm.prank(alice);
            escrow.lock{value: 1}(h, bob, address(0), 1, timeout);
            Escrow.Swap memory s = Escrow.Swap(h, alice, bob, address(0), 1, timeout);
            bytes memory head = abi.encodeWithSelector(Escrow.claim.selector, s);
            (bool ok,) = address(escrow).call(bytes.concat(head, secret));
            vm.assertTrue(!ok, "a secret of the wrong length claimed");
            vm.assertEq(_status(escrow.swapId(s)), 1, "still Locked");
        }
    }

    function test_claim_and_refund_with_dirty_address_bits_name_no_swap() public {
        (Escrow.Swap memory s, bytes32 id) = _lockEth();
        bytes memory data = abi.encodeCall(Escrow.claim, (s, PREIMAGE));
        data[4 + 0x40] = 0x01; // an upper byte of `receiver`, which must be zero
        (bool ok,) = address(escrow).call(data);
        vm.assertTrue(!ok, "dirty claim rejected");
        vm.warp(timeout);
        bytes memory refundData = abi.encodeCall(Escrow.refund, (s));
        refundData[4 + 0x20] = 0x01; // an upper byte of `sender`
        (ok,) = address(escrow).call(refundData);
        vm.assertTrue(!ok, "dirty refund rejected");
        vm.assertEq(_status(id), 1, "still Locked");
        vm.assertEq(address(escrow).balance, AMOUNT, "nothing paid");
    }

    function test_claim_to_receiver_refusing_eth_reverts_and_keeps_swap() public {
        RejectingReceiver rejecting = new RejectingReceiver();
        vm.prank(alice);
        bytes32 id = escrow.lock{value: AMOUNT}(hashlock, address(rejecting), address(0), AMOUNT, timeout);
        Escrow.Swap memory s = Escrow.Swap(hashlock, alice, address(rejecting), address(0), AMOUNT, timeout);
        vm.expectRevert(SafeTransferLib.ETHTransferFailed.selector);
        escrow.claim(s, PREIMAGE);
        vm.assertEq(_status(id), 1, "still Locked");
        vm.warp(timeout);
        escrow.refund(s);
        vm.assertEq(alice.balance, 100 ether, "alice refunded");
    }

    function test_claim_reentry_from_receiver_cannot_pay_twice() public {
        ReenteringReceiver r = new ReenteringReceiver(escrow);
        vm.prank(alice);
        escrow.lock{value: AMOUNT}(hashlock, address(r), address(0), AMOUNT, timeout);
        // A second swap keeps ETH in the escrow that a double payout would steal.
        _lockEth();
        Escrow.Swap memory s = Escrow.Swap(hashlock, alice, address(r), address(0), AMOUNT, timeout);
        r.arm(s, PREIMAGE);
        escrow.claim(s, PREIMAGE);
        vm.assertTrue(r.reentered(), "re-entered");
        vm.assertTrue(!r.reentrySucceeded(), "re-entry failed");
        vm.assertEq(address(r).balance, AMOUNT, "paid once");
        vm.assertEq(address(escrow).balance, AMOUNT, "other swap intact");
    }

    // ---- refund ----

    function test_refund_eth_by_anyone_after_timeout() public {
        (Escrow.Swap memory s, bytes32 id) = _lockEth();
        vm.warp(timeout);
        vm.expectEmit(true, true, true, true, address(escrow));
        emit Escrow.Refunded(id);
        vm.prank(carol);
        escrow.refund(s);
        vm.assertEq(alice.balance, 100 ether, "alice refunded");
        vm.assertEq(_status(id), 3, "status Refunded");
    }

    function test_refund_token_by_anyone_after_timeout() public {
        (Escrow.Swap memory s, bytes32 id) = _lockToken();
        vm.warp(timeout + 7 days);
        vm.expectEmit(true, true, true, true, address(escrow));
        emit Escrow.Refunded(id);
        vm.prank(carol);
        escrow.refund(s);
        vm.assertEq(token.balanceOf(alice), 100 ether, "alice refunded");
    }

    function test_refund_rejects_before_timeout() public {
        (Escrow.Swap memory s,) = _lockEth();
        vm.warp(timeout - 1);
        vm.expectRevert(abi.encodeWithSelector(Escrow.RefundNotYetAllowed.selector, timeout));
        escrow.refund(s);
    }

    function test_refund_rejects_second_refund() public {
        (Escrow.Swap memory s, bytes32 id) = _lockEth();
        vm.warp(timeout);
        escrow.refund(s);
        vm.expectRevert(abi.encodeWithSelector(Escrow.AlreadyRefunded.selector, id));
        escrow.refund(s);
    }

    function test_refund_rejects_after_claim() public {
        (Escrow.Swap memory s, bytes32 id) = _lockToken();
        escrow.claim(s, PREIMAGE);
        vm.warp(timeout);
        vm.expectRevert(abi.encodeWithSelector(Escrow.AlreadyClaimed.selector, id));
        escrow.refund(s);
    }

    function test_refund_rejects_unknown_swap() public {
        (Escrow.Swap memory s,) = _lockEth();
        vm.warp(timeout);
        s.sender = carol; // redirecting the refund changes the id
        vm.expectRevert(abi.encodeWithSelector(Escrow.UnknownSwap.selector, escrow.swapId(s)));
        escrow.refund(s);
    }

    function test_claim_and_refund_reject_eth_sent_along() public {
        (Escrow.Swap memory s,) = _lockEth();
        (bool ok,) = address(escrow).call{value: 1}(abi.encodeCall(Escrow.claim, (s, PREIMAGE)));
        vm.assertTrue(!ok, "claim is not payable");
        vm.warp(timeout);
        (ok,) = address(escrow).call{value: 1}(abi.encodeCall(Escrow.refund, (s)));
        vm.assertTrue(!ok, "refund is not payable");
    }

    function test_plain_eth_transfer_is_refused() public {
        vm.prank(alice);
        (bool ok,) = address(escrow).call{value: 1}("");
        vm.assertTrue(!ok, "no receive");
    }

    // ---- a token that returns no bool ----

    function test_no_bool_token_lock_claim_and_refund() public {
        NoBoolToken usdt = new NoBoolToken();
        usdt.mint(alice, 10 ether);
        vm.prank(alice);
        usdt.approve(address(escrow), type(uint256).max);

        vm.prank(alice);
        bytes32 id1 = escrow.lock(hashlock, bob, address(usdt), AMOUNT, timeout);
        escrow.claim(Escrow.Swap(hashlock, alice, bob, address(usdt), AMOUNT, timeout), PREIMAGE);
        vm.assertEq(usdt.balanceOf(bob), AMOUNT, "bob paid");
        vm.assertEq(_status(id1), 2, "claimed");

        vm.prank(alice);
        bytes32 id2 = escrow.lock(hashlock, bob, address(usdt), AMOUNT, timeout + 1);
        vm.warp(timeout + 1);
        escrow.refund(Escrow.Swap(hashlock, alice, bob, address(usdt), AMOUNT, timeout + 1));
        vm.assertEq(usdt.balanceOf(alice), 10 ether - AMOUNT, "alice refunded");
        vm.assertEq(_status(id2), 3, "refunded");
    }

    function test_no_bool_token_failed_transfer_reverts() public {
        NoBoolToken usdt = new NoBoolToken();
        usdt.mint(alice, 1 ether);
        vm.prank(alice);
        usdt.approve(address(escrow), type(uint256).max);
        vm.prank(alice);
        vm.expectRevert(SafeTransferLib.TransferFromFailed.selector);
        escrow.lock(hashlock, bob, address(usdt), 2 ether, timeout);
    }
}

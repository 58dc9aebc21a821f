// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {Base} from "./utils/Base.sol";
import {TestToken} from "./mocks/Tokens.sol";
import {Escrow} from "../src/Escrow.sol";

contract EscrowFuzzTest is Base {
    Escrow internal escrow;
    TestToken internal token;
    address internal alice = address(0xA11CE);
    address internal bob = address(0xB0B);

    function setUp() public {
        vm.warp(1_800_000_000);
        escrow = new Escrow();
        token = new TestToken();
    }

    function _fund(uint256 amount) internal {
        vm.deal(alice, amount);
        token.mint(alice, amount);
        vm.prank(alice);
        token.approve(address(escrow), amount);
    }

    /// Any secret claims its own swap, at any moment inside the window, and only once.
    function testFuzz_claim_inside_window(
        bytes32 secret,
        uint256 amount,
        uint256 window,
        uint256 at,
        bool useToken
    ) public {
        amount = bound(amount, 1, 1e30);
        window = bound(window, 1, escrow.MAX_TIMEOUT_WINDOW());
        uint256 timeout = block.timestamp + window;
        at = bound(at, block.timestamp, timeout - 1);
        _fund(amount);
        address tokenAddr = useToken ? address(token) : address(0);
        bytes32 hashlock = sha256(abi.encodePacked(secret));
        vm.prank(alice);
        escrow.lock{value: useToken ? 0 : amount}(hashlock, bob, tokenAddr, amount, timeout);
        Escrow.Swap memory s = Escrow.Swap(hashlock, alice, bob, tokenAddr, amount, timeout);

        vm.warp(at);
        vm.expectRevert(abi.encodeWithSelector(Escrow.RefundNotYetAllowed.selector, timeout));
        escrow.refund(s);
        escrow.claim(s, secret);
        vm.assertEq(useToken ? token.balanceOf(bob) : bob.balance, amount, "receiver paid");
        vm.warp(timeout);
        vm.expectRevert(abi.encodeWithSelector(Escrow.AlreadyClaimed.selector, escrow.swapId(s)));
        escrow.refund(s);
    }

    /// From the timeout on, only the refund works, and it pays the sender back in full.
    function testFuzz_refund_from_timeout(
        bytes32 secret,
        uint256 amount,
        uint256 window,
        uint256 late,
        bool useToken
    ) public {
        amount = bound(amount, 1, 1e30);
        window = bound(window, 1, escrow.MAX_TIMEOUT_WINDOW());
        uint256 timeout = block.timestamp + window;
        late = bound(late, 0, 3650 days);
        _fund(amount);
        address tokenAddr = useToken ? address(token) : address(0);
        bytes32 hashlock = sha256(abi.encodePacked(secret));
        vm.prank(alice);
        escrow.lock{value: useToken ? 0 : amount}(hashlock, bob, tokenAddr, amount, timeout);
        Escrow.Swap memory s = Escrow.Swap(hashlock, alice, bob, tokenAddr, amount, timeout);

        vm.warp(timeout + late);
        vm.expectRevert(abi.encodeWithSelector(Escrow.ClaimWindowClosed.selector, timeout));
        escrow.claim(s, secret);
        escrow.refund(s);
        vm.assertEq(useToken ? token.balanceOf(alice) : alice.balance, amount, "sender refunded");
    }

    /// No preimage but the secret opens the lock.
    function testFuzz_wrong_preimage_rejected(bytes32 secret, bytes32 guess) public {
        vm.assume(guess != secret);
        _fund(1);
        bytes32 hashlock = sha256(abi.encodePacked(secret));
        uint256 timeout = block.timestamp + 1 hours;
        vm.prank(alice);
        escrow.lock{value: 1}(hashlock, bob, address(0), 1, timeout);
        vm.expectRevert(Escrow.WrongPreimage.selector);
        escrow.claim(Escrow.Swap(hashlock, alice, bob, address(0), 1, timeout), guess);
    }

    /// Changing any single parameter of a locked swap names a swap that does not exist.
    function testFuzz_altered_parameters_are_unknown(uint8 field, uint128 delta) public {
        vm.assume(delta != 0);
        _fund(10 ether);
        bytes32 secret = bytes32(uint256(42));
        bytes32 hashlock = sha256(abi.encodePacked(secret));
        uint256 timeout = block.timestamp + 1 hours;
        vm.prank(alice);
        escrow.lock{value: 1 ether}(hashlock, bob, address(0), 1 ether, timeout);
        Escrow.Swap memory s = Escrow.Swap(hashlock, alice, bob, address(0), 1 ether, timeout);
        field = uint8(bound(field, 0, 5));
        if (field == 0) s.hashlock = bytes32(uint256(s.hashlock) ^ uint256(delta));
        if (field == 1) s.sender = address(uint160(s.sender) ^ uint160(delta));
        if (field == 2) s.receiver = address(uint160(s.receiver) ^ uint160(delta));
        if (field == 3) s.token = address(uint160(delta));
        if (field == 4) s.amount += delta;
        if (field == 5) s.timeout += delta;
        vm.assume(
            keccak256(abi.encode(s))
                != keccak256(abi.encode(hashlock, alice, bob, address(0), 1 ether, timeout))
        );
        vm.expectRevert(abi.encodeWithSelector(Escrow.UnknownSwap.selector, escrow.swapId(s)));
        escrow.claim(s, secret);
    }
}

/// Drives random sequences of lock, claim, refund and time travel, and keeps the books.
contract Handler is Base {
    Escrow internal immutable escrow;
    TestToken internal immutable token;
    address[3] internal actors = [address(0x1001), address(0x1002), address(0x1003)];

    Escrow.Swap[] internal swaps;
    bytes32[] internal secrets;
    mapping(bytes32 id => uint256) public claims;
    mapping(bytes32 id => uint256) public refunds;
    uint256 public lockedEth;
    uint256 public lockedTokens;
    uint256 public constant SUPPLY = 1_000_000 ether;
    uint256 public calls;

    constructor(Escrow escrow_, TestToken token_) {
        escrow = escrow_;
        token = token_;
        for (uint256 i = 0; i < actors.length; i++) {
            vm.deal(actors[i], SUPPLY);
            token.mint(actors[i], SUPPLY);
            vm.prank(actors[i]);
            token.approve(address(escrow), type(uint256).max);
        }
    }

    function actorCount() external view returns (uint256) {
        return actors.length;
    }

    function actor(uint256 i) external view returns (address) {
        return actors[i];
    }

    function swapCount() external view returns (uint256) {
        return swaps.length;
    }

    function swapAt(uint256 i) external view returns (Escrow.Swap memory) {
        return swaps[i];
    }

    function lock(uint256 from, uint256 to, uint256 amount, uint256 window, bool useToken, bytes32 secret)
        external
    {
        calls++;
        address sender = actors[from % actors.length];
        address receiver = actors[to % actors.length];
        amount = bound(amount, 1, 1000 ether);
        window = bound(window, 1, 3 days);
        address tokenAddr = useToken ? address(token) : address(0);
        bytes32 hashlock = sha256(abi.encodePacked(secret));
        uint256 timeout = block.timestamp + window;
        vm.prank(sender);
        try escrow.lock{value: useToken ? 0 : amount}(hashlock, receiver, tokenAddr, amount, timeout) {
            swaps.push(Escrow.Swap(hashlock, sender, receiver, tokenAddr, amount, timeout));
            secrets.push(secret);
            if (useToken) lockedTokens += amount;
            else lockedEth += amount;
        } catch {}
    }

    function claim(uint256 index, bool rightSecret, uint256 caller) external {
        calls++;
        if (swaps.length == 0) return;
        index %= swaps.length;
        Escrow.Swap memory s = swaps[index];
        bytes32 preimage = rightSecret ? secrets[index] : keccak256(abi.encode(secrets[index]));
        vm.prank(actors[caller % actors.length]);
        try escrow.claim(s, preimage) {
            claims[escrow.swapId(s)]++;
            if (s.token == address(0)) lockedEth -= s.amount;
            else lockedTokens -= s.amount;
        } catch {}
    }

    function refund(uint256 index, uint256 caller) external {
        calls++;
        if (swaps.length == 0) return;
        index %= swaps.length;
        Escrow.Swap memory s = swaps[index];
        vm.prank(actors[caller % actors.length]);
        try escrow.refund(s) {
            refunds[escrow.swapId(s)]++;
            if (s.token == address(0)) lockedEth -= s.amount;
            else lockedTokens -= s.amount;
        } catch {}
    }

    function warp(uint256 seconds_) external {
        calls++;
        vm.warp(block.timestamp + bound(seconds_, 1, 2 days));
    }
}

contract EscrowInvariantTest is Base {
    Escrow internal escrow;
    TestToken internal token;
    Handler internal handler;

    function setUp() public {
        vm.warp(1_800_000_000);
        escrow = new Escrow();
        token = new TestToken();
        handler = new Handler(escrow, token);
        targetContract(address(handler));
    }

    /// The escrow holds exactly what is still locked: nothing is created, lost or paid twice.
    function invariant_escrow_holds_exactly_the_locked_amounts() public view {
        vm.assertEq(address(escrow).balance, handler.lockedEth(), "ETH held");
        vm.assertEq(token.balanceOf(address(escrow)), handler.lockedTokens(), "tokens held");
    }

    /// Value is conserved between the actors and the escrow.
    function invariant_balances_conserved() public view {
        uint256 eth = address(escrow).balance;
        uint256 tokens = token.balanceOf(address(escrow));
        for (uint256 i = 0; i < handler.actorCount(); i++) {
            eth += handler.actor(i).balance;
            tokens += token.balanceOf(handler.actor(i));
        }
        vm.assertEq(eth, handler.SUPPLY() * handler.actorCount(), "ETH conserved");
        vm.assertEq(tokens, handler.SUPPLY() * handler.actorCount(), "tokens conserved");
    }

    /// A swap is claimed at most once, refunded at most once, and never both; its stored status
    /// agrees with what happened.
    function invariant_never_both_claimed_and_refunded() public view {
        for (uint256 i = 0; i < handler.swapCount(); i++) {
            bytes32 id = escrow.swapId(handler.swapAt(i));
            uint256 c = handler.claims(id);
            uint256 r = handler.refunds(id);
            vm.assertLe(c + r, 1, "claimed and refunded at most once in total");
            uint256 st = uint256(escrow.status(id));
            if (c == 1) vm.assertEq(st, 2, "claimed status");
            else if (r == 1) vm.assertEq(st, 3, "refunded status");
            else vm.assertEq(st, 1, "locked status");
        }
    }
}

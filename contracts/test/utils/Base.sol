// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

// The forge-std on npm is an old, incomplete build (it imports a ds-test that it does not ship),
// so the tests declare the few cheatcodes they use themselves. Assertions are forge's own
// assertion cheatcodes, which revert with a readable message.

struct Log {
    bytes32[] topics;
    bytes data;
    address emitter;
}

interface Vm {
    function warp(uint256 timestamp) external;
    function deal(address account, uint256 balance) external;
    function prank(address sender) external;
    function startPrank(address sender) external;
    function stopPrank() external;
    function expectRevert(bytes calldata revertData) external;
    function expectRevert(bytes4 revertData) external;
    function expectRevert() external;
    function expectEmit(bool checkTopic1, bool checkTopic2, bool checkTopic3, bool checkData, address emitter)
        external;
    function recordLogs() external;
    function getRecordedLogs() external returns (Log[] memory logs);
    function assume(bool condition) external pure;
    function addr(uint256 privateKey) external pure returns (address);
    function label(address account, string calldata newLabel) external;
    function assertEq(uint256 left, uint256 right, string calldata error) external pure;
    function assertEq(bytes32 left, bytes32 right, string calldata error) external pure;
    function assertEq(address left, address right, string calldata error) external pure;
    function assertTrue(bool condition, string calldata error) external pure;
    function assertLe(uint256 left, uint256 right, string calldata error) external pure;
}

abstract contract Base {
    Vm internal constant vm = Vm(address(uint160(uint256(keccak256("hevm cheat code")))));

    // forge reads this flag to tell test contracts from other contracts.
    bool public IS_TEST = true;

    address[] private targets;

    function targetContract(address target) internal {
        targets.push(target);
    }

    /// forge's invariant runner calls this to learn which contracts to fuzz.
    function targetContracts() public view returns (address[] memory) {
        return targets;
    }

    function bound(uint256 x, uint256 min, uint256 max) internal pure returns (uint256) {
        if (x >= min && x <= max) return x;
        return min + (x % (max - min + 1));
    }
}

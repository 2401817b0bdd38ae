// SPDX-License-Identifier: MIT OR Apache-2.0
pragma solidity 0.8.37;

/// Forwards the ETH it is sent, as smart wallets and payment routers do: the
/// value reaches the recipient in an internal call, which a block's
/// transactions do not show (only a node's trace API does). For tests of
/// internal transfers on a development node.
contract Forwarder {
    /// Sends all of `msg.value` on to `to`.
    function forward(address payable to) external payable {
        (bool ok, ) = to.call{value: msg.value}("");
        require(ok, "forward failed");
    }

    /// Sends `msg.value` to `to` from inside a call that then fails, and
    /// keeps going: the transaction succeeds, the value never arrives.
    function forwardInFailingCall(address payable to) external payable {
        try this.sendThenFail{value: msg.value}(to) {} catch {}
    }

    /// Sends `msg.value` to `to`, then reverts (undoing the send).
    function sendThenFail(address payable to) external payable {
        (bool ok, ) = to.call{value: msg.value}("");
        require(ok, "send failed");
        revert("undone");
    }
}

//! Forwarding allocates nothing in steady state: packets in, copies out to every subscriber,
//! feedback, NACK and report timers included.

mod common;
mod counting;
mod forwarding;

use telesfu_core::engine::EngineConfig;

#[test]
fn steady_state_forwarding_allocates_nothing() {
    forwarding::forwarding_allocates_nothing(EngineConfig::default(), false);
}

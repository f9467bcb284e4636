//! The store conformance suite mounted for the in-memory stores, the model every durable backend is held to.
#![cfg(feature = "testing")]

captoken_core_types::store_conformance_tests!(
    captoken_core_types::testing::stores::MemoryBackend::setup()
);

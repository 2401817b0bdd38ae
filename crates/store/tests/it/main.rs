//! The store conformance suite: every test runs against SQLite and PostgreSQL.

mod conformance;

/// Writes one `#[tokio::test]` per backend for each named scenario.
/// Each scenario is an `async fn(Kind)` in scope.
macro_rules! on_both_backends {
    ($($scenario:ident),* $(,)?) => {
        mod sqlite {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $scenario() { super::$scenario(coffer_store::testing::Kind::Sqlite).await })*
        }
        mod postgres {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $scenario() { super::$scenario(coffer_store::testing::Kind::Postgres).await })*
        }
    };
}
pub(crate) use on_both_backends;

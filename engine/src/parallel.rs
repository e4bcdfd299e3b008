//! Bounded parallel work over a list, with the results in the list's order.

use std::future::Future;

use futures::{FutureExt, StreamExt};

/// Runs `work` on every item, at most `limit` at once, and returns the outputs in the items'
/// order. Unlike `buffered`, a finished item frees its slot at once: with `buffered`, a small
/// file finished behind a big one still holds its slot, so files that alternate big and small
/// (a day's events, then the late ones) were read one at a time on a 2-core machine.
pub async fn in_order<I, F, Fut>(items: I, limit: usize, mut work: F) -> Vec<Fut::Output>
where
    I: IntoIterator,
    F: FnMut(I::Item) -> Fut,
    Fut: Future,
{
    let mut outputs: Vec<(usize, Fut::Output)> = futures::stream::iter(items)
        .enumerate()
        .map(|(index, item)| work(item).map(move |output| (index, output)))
        .buffer_unordered(limit.max(1))
        .collect()
        .await;
    outputs.sort_unstable_by_key(|(index, _)| *index);
    outputs.into_iter().map(|(_, output)| output).collect()
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use tokio::sync::Notify;

    use super::in_order;

    #[tokio::test]
    async fn keeps_order_and_frees_a_slot_as_soon_as_an_item_finishes() {
        // Two slots. The first item waits until the third has started, which only happens if
        // the quick second item gave its slot back while the first was still running (with
        // `buffered` it would wait forever, and the timeout fails the test).
        let third_started = Notify::new();
        let work = |item: usize| {
            let third_started = &third_started;
            async move {
                match item {
                    0 => third_started.notified().await,
                    2 => third_started.notify_one(),
                    _ => {}
                }
                item * 10
            }
        };
        let outputs = tokio::time::timeout(Duration::from_secs(10), in_order(0..3, 2, work)).await;
        assert_eq!(outputs.ok(), Some(vec![0, 10, 20]));
    }
}

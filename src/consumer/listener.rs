//! The rebalance listener: async callbacks run inside `poll` around partition moves.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};

use super::KafkaConsumer;
use crate::record::TopicPartition;

/// Called by [`KafkaConsumer::poll`] when the group moves partitions (Java's
/// ConsumerRebalanceListener).
///
/// The methods run inside `poll`, on the caller's task, with the consumer at hand: commit in
/// `on_partitions_revoked` to hand partitions over at a known offset. They must not call
/// `poll` themselves.
///
/// With the eager protocols (range, roundrobin, sticky) every owned partition is revoked
/// before each rebalance; with cooperative-sticky (KIP-429) only the partitions that move.
///
/// A panic in a method is caught and logged at error level, and the rebalance goes on as if the
/// method had returned; `poll` then returns [`Error::UserCode`](crate::Error::UserCode) once (as
/// Java's consumer throws a listener's exception from `poll`), and the listener stays installed.
pub trait RebalanceListener: Send + 'static {
    /// Partitions about to be taken away; their records will no longer be returned.
    fn on_partitions_revoked(
        &mut self,
        consumer: &mut KafkaConsumer,
        partitions: &[TopicPartition],
    ) -> impl Future<Output = ()> + Send;

    /// Partitions newly given to this member (may be empty: called after every rebalance).
    fn on_partitions_assigned(
        &mut self,
        consumer: &mut KafkaConsumer,
        partitions: &[TopicPartition],
    ) -> impl Future<Output = ()> + Send;

    /// Partitions lost without a clean handover (membership lost); committing is pointless.
    /// Defaults to [`on_partitions_revoked`](Self::on_partitions_revoked).
    fn on_partitions_lost(
        &mut self,
        consumer: &mut KafkaConsumer,
        partitions: &[TopicPartition],
    ) -> impl Future<Output = ()> + Send {
        self.on_partitions_revoked(consumer, partitions)
    }
}

pub(crate) type BoxFuture<'a> = Pin<Box<dyn Future<Output = ()> + Send + 'a>>;

/// Object-safe form of [`RebalanceListener`], so the consumer can hold any listener.
pub(crate) trait DynListener: Send {
    fn revoked<'a>(
        &'a mut self,
        c: &'a mut KafkaConsumer,
        p: &'a [TopicPartition],
    ) -> BoxFuture<'a>;
    fn assigned<'a>(
        &'a mut self,
        c: &'a mut KafkaConsumer,
        p: &'a [TopicPartition],
    ) -> BoxFuture<'a>;
    fn lost<'a>(&'a mut self, c: &'a mut KafkaConsumer, p: &'a [TopicPartition]) -> BoxFuture<'a>;
}

impl<L: RebalanceListener> DynListener for L {
    fn revoked<'a>(
        &'a mut self,
        c: &'a mut KafkaConsumer,
        p: &'a [TopicPartition],
    ) -> BoxFuture<'a> {
        Box::pin(self.on_partitions_revoked(c, p))
    }
    fn assigned<'a>(
        &'a mut self,
        c: &'a mut KafkaConsumer,
        p: &'a [TopicPartition],
    ) -> BoxFuture<'a> {
        Box::pin(self.on_partitions_assigned(c, p))
    }
    fn lost<'a>(&'a mut self, c: &'a mut KafkaConsumer, p: &'a [TopicPartition]) -> BoxFuture<'a> {
        Box::pin(self.on_partitions_lost(c, p))
    }
}

/// The consumer's listener. It is lent out while it runs (it gets `&mut KafkaConsumer`), and
/// the loan puts it back when dropped, so a poll dropped inside the listener does not lose it.
#[derive(Default)]
pub(crate) struct ListenerSlot(Arc<Mutex<Option<Box<dyn DynListener>>>>);

impl ListenerSlot {
    /// Installs `l`, replacing any listener.
    pub(crate) fn set(&self, l: Box<dyn DynListener>) {
        *self.0.lock().unwrap_or_else(|p| p.into_inner()) = Some(l);
    }

    /// Takes the listener out until the loan is dropped; `None` without a listener (or while
    /// it is lent out already).
    pub(crate) fn lend(&self) -> Option<ListenerLoan> {
        let l = self.0.lock().unwrap_or_else(|p| p.into_inner()).take()?;
        Some(ListenerLoan {
            slot: Arc::clone(&self.0),
            listener: Some(l),
        })
    }
}

/// A listener taken out of its [`ListenerSlot`]; dropping it puts the listener back unless
/// another was installed meanwhile (`subscribe_with` called from inside the listener).
pub(crate) struct ListenerLoan {
    /// Guards the installed listener; `None` while lent out.
    slot: Arc<Mutex<Option<Box<dyn DynListener>>>>,
    listener: Option<Box<dyn DynListener>>,
}

impl ListenerLoan {
    pub(crate) fn listener(&mut self) -> Option<&mut Box<dyn DynListener>> {
        self.listener.as_mut()
    }
}

impl Drop for ListenerLoan {
    fn drop(&mut self) {
        if let Some(l) = self.listener.take() {
            let mut slot = self.slot.lock().unwrap_or_else(|p| p.into_inner());
            if slot.is_none() {
                *slot = Some(l);
            }
        }
    }
}

using System.Collections.Concurrent;
using Granary.Transactions;
using Microsoft.Extensions.Time.Testing;

namespace Granary.Tests.Unit.Transactions;

public sealed class TwoPhaseCommitDriverTests
{
    private static readonly TwoPhaseCommitSettings Settings = new(TimeSpan.FromSeconds(5), TimeSpan.FromSeconds(1), new RetryBackoff(TimeSpan.FromMilliseconds(100), TimeSpan.FromSeconds(1), Jitter: 0), "TX_ABORTED");
    private readonly FakeTimeProvider _time = new(new DateTimeOffset(2026, 1, 1, 0, 0, 0, TimeSpan.Zero));
    private readonly FakeParticipants _participants = new();
    private readonly FakeDecisionStore _store = new();

    private TwoPhaseCommitDriver Driver() => new(_participants, _store, _time, Settings);

    [Fact]
    public async Task All_yes_commits_records_once_and_every_participant_hears_commit()
    {
        var driver = Driver();
        var votes = await driver.PrepareAllAsync("tx", "fp", ["a", "b"]);
        Assert.Equal(TransactionDecision.Commit, votes.Coordinator.Decision);

        var (record, inserted) = await driver.RecordAsync(votes);
        Assert.True(inserted);
        Assert.Equal(TransactionDecision.Commit, record.Snapshot.Decision);
        Assert.Null(await driver.SendDecisionAsync(votes.Coordinator, TimeSpan.FromSeconds(10)));
        Assert.Equal(CoordinatorPhase.Done, votes.Coordinator.Phase);
        Assert.Equal(["a:commit", "b:commit"], _participants.Delivered.Order(StringComparer.Ordinal));
    }

    [Fact]
    public async Task A_failed_prepare_aborts_with_the_voters_code_and_the_rejection_is_kept()
    {
        var rejection = new InvalidOperationException("bad operation");
        _participants.Answers["b"] = new PrepareAnswer(false, "INSUFFICIENT", "b: balance too low", rejection);
        var votes = await Driver().PrepareAllAsync("tx", "fp", ["a", "b"]);
        Assert.Equal(TransactionDecision.Abort, votes.Coordinator.Decision);
        Assert.Equal("INSUFFICIENT", votes.AbortCode);
        Assert.Equal("b: balance too low", votes.Coordinator.AbortReason);
        Assert.Same(rejection, votes.Rejection);
    }

    [Fact]
    public async Task A_throwing_prepare_is_a_no_vote_with_the_default_code()
    {
        _participants.PrepareFailure["a"] = new InvalidOperationException("silo lost");
        var votes = await Driver().PrepareAllAsync("tx", "fp", ["a", "b"]);
        Assert.Equal(TransactionDecision.Abort, votes.Coordinator.Decision);
        Assert.Equal("TX_ABORTED", votes.AbortCode);
        Assert.Equal("a: silo lost", votes.Coordinator.AbortReason);
    }

    [Fact]
    public async Task A_silent_participant_aborts_at_the_prepare_timeout_and_not_before()
    {
        var silent = new TaskCompletionSource<PrepareAnswer>();
        _participants.Pending["b"] = silent.Task;
        var run = Driver().PrepareAllAsync("tx", "fp", ["a", "b"]);
        _time.Advance(Settings.PrepareTimeout - TimeSpan.FromTicks(1));
        Assert.False(run.IsCompleted);
        _time.Advance(TimeSpan.FromTicks(1));
        var votes = await run.WaitAsync(TimeSpan.FromSeconds(10));
        Assert.Equal(TransactionDecision.Abort, votes.Coordinator.Decision);
        Assert.Contains("no vote within 5 s", votes.Coordinator.AbortReason, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Two_drivers_racing_record_one_decision_and_the_loser_reads_it()
    {
        // The first to record decides; the second (here an abort) must neither overwrite nor send.
        var commit = await Driver().PrepareAllAsync("tx", "fp", ["a", "b"]);
        _participants.Answers["b"] = new PrepareAnswer(false, "INSUFFICIENT", "no");
        var abort = await Driver().PrepareAllAsync("tx", "fp", ["a", "b"]);
        _store.HoldInserts = true;
        var first = Driver().RecordAsync(commit);
        var second = Driver().RecordAsync(abort);
        _store.ReleaseInserts();
        var results = await Task.WhenAll(first, second);

        Assert.Single(results, r => r.Inserted);
        Assert.Equal(1, _store.Inserts);
        Assert.All(results, r => Assert.Equal(TransactionDecision.Commit, r.Record.Snapshot.Decision));
        Assert.Equal(TransactionDecision.Commit, (await _store.ReadAsync("tx"))!.Snapshot.Decision);
    }

    [Fact]
    public async Task A_replay_after_a_lost_answer_gets_the_recorded_decision()
    {
        var driver = Driver();
        var votes = await driver.PrepareAllAsync("tx", "fp", ["a"]);
        await driver.RecordAsync(votes);

        // The caller never heard the answer and asks again: what is recorded answers, nothing is prepared anew.
        var preparesBefore = _participants.Prepares;
        var recorded = await _store.ReadAsync("tx");
        var replayed = driver.Recover(recorded!);
        Assert.NotNull(replayed);
        Assert.Equal(TransactionDecision.Commit, replayed.Decision);
        Assert.Equal("fp", replayed.Fingerprint);
        Assert.Equal(preparesBefore, _participants.Prepares);
    }

    [Fact]
    public async Task Presumed_abort_tombstone_wins_over_a_later_decision_and_a_decision_wins_over_a_later_tombstone()
    {
        var driver = Driver();
        var tombstone = await driver.PresumeAbortAsync("tx-1");
        Assert.True(tombstone.IsPresumedAbort);
        Assert.Null(driver.Recover(tombstone));
        var late = await driver.PrepareAllAsync("tx-1", "fp", ["a"]);
        var (record, inserted) = await driver.RecordAsync(late);
        Assert.False(inserted);
        Assert.True(record.IsPresumedAbort);

        var decided = await driver.PrepareAllAsync("tx-2", "fp", ["a"]);
        await driver.RecordAsync(decided);
        var asked = await driver.PresumeAbortAsync("tx-2");
        Assert.False(asked.IsPresumedAbort);
        Assert.Equal(TransactionDecision.Commit, asked.Snapshot.Decision);
    }

    [Fact]
    public async Task Recovery_sends_the_recorded_decision_to_every_participant_not_yet_acknowledged()
    {
        var driver = Driver();
        var votes = await driver.PrepareAllAsync("tx", "fp", ["a", "b", "c"]);
        await driver.RecordAsync(votes);
        var stored = await _store.ReadAsync("tx");

        // As if the silo died after the insert: a new host recovers from the record alone.
        var recovered = driver.Recover(stored!)!;
        Assert.Equal(CoordinatorPhase.Committing, recovered.Phase);
        Assert.Null(await driver.SendDecisionAsync(recovered, TimeSpan.FromSeconds(10)));
        Assert.Equal(["a:commit", "b:commit", "c:commit"], _participants.Delivered.Order(StringComparer.Ordinal));

        var compacted = await driver.CompactAsync(recovered, stored!);
        Assert.Equal(CoordinatorPhase.Done, compacted.Snapshot.Phase);
        Assert.Empty(compacted.Snapshot.Acknowledged);
    }

    [Fact]
    public Task Phase_two_retries_a_failing_participant_with_backoff_and_gives_up_at_the_budget() =>
        // Off the test's synchronisation context, so that advancing the fake clock runs the driver's continuations at once.
        Task.Run(async () =>
    {
        var driver = Driver();
        var votes = await driver.PrepareAllAsync("tx", "fp", ["a", "b"]);
        await driver.RecordAsync(votes);
        _participants.DeliveryFailuresLeft["b"] = int.MaxValue;

        var send = driver.SendDecisionAsync(votes.Coordinator, TimeSpan.FromMilliseconds(250));
        Assert.Equal(2, _participants.Deliveries); // first round: a acknowledged, b failed
        _time.Advance(TimeSpan.FromMilliseconds(100)); // second round after the first backoff
        Assert.Equal(3, _participants.Deliveries);
        var retryIn = await send.WaitAsync(TimeSpan.FromSeconds(10)); // the next (200 ms) would pass the budget
        Assert.Equal(TimeSpan.FromMilliseconds(200), retryIn);
        Assert.Equal(["b"], votes.Coordinator.Unacknowledged);

        _participants.DeliveryFailuresLeft["b"] = 0;
        Assert.Null(await driver.SendDecisionAsync(votes.Coordinator, TimeSpan.FromSeconds(10)));
        Assert.Equal(CoordinatorPhase.Done, votes.Coordinator.Phase);
    });

    [Fact]
    public async Task A_refused_decision_counts_as_acknowledged_and_is_not_retried()
    {
        var driver = Driver();
        var votes = await driver.PrepareAllAsync("tx", "fp", ["a"]);
        await driver.RecordAsync(votes);
        _participants.Refuse.Add("a");
        Assert.Null(await driver.SendDecisionAsync(votes.Coordinator, TimeSpan.FromSeconds(10)));
        Assert.Equal(1, _participants.Deliveries);
    }

    [Fact]
    public async Task A_run_that_lost_to_an_abort_releases_only_its_yes_voters()
    {
        var driver = Driver();
        _participants.Answers["b"] = new PrepareAnswer(false, "INSUFFICIENT", "no");
        var votes = await driver.PrepareAllAsync("tx", "fp", ["a", "b"]);
        await driver.ReleaseAsync(votes.Coordinator);
        Assert.Equal(["a:abort"], _participants.Delivered);
    }

    [Fact]
    public async Task A_failing_store_leaves_nothing_recorded_and_nothing_sent()
    {
        var driver = Driver();
        var votes = await driver.PrepareAllAsync("tx", "fp", ["a"]);
        _store.FailNext = true;
        await Assert.ThrowsAsync<IOException>(() => driver.RecordAsync(votes));
        Assert.Null(await _store.ReadAsync("tx"));
        Assert.Empty(_participants.Delivered);
    }

    private sealed class FakeParticipants : ITwoPhaseCommitParticipants
    {
        public Dictionary<string, PrepareAnswer> Answers { get; } = new(StringComparer.Ordinal);

        public Dictionary<string, Exception> PrepareFailure { get; } = new(StringComparer.Ordinal);

        public Dictionary<string, Task<PrepareAnswer>> Pending { get; } = new(StringComparer.Ordinal);

        public Dictionary<string, int> DeliveryFailuresLeft { get; } = new(StringComparer.Ordinal);

        public HashSet<string> Refuse { get; } = new(StringComparer.Ordinal);

        public ConcurrentQueue<string> Delivered { get; } = new();

        public int Prepares { get; private set; }

        public int Deliveries { get; private set; }

        public Task<PrepareAnswer> PrepareAsync(string transactionId, string participant, DateTimeOffset deadline)
        {
            Prepares++;
            if (PrepareFailure.TryGetValue(participant, out var failure))
            {
                return Task.FromException<PrepareAnswer>(failure);
            }

            return Pending.TryGetValue(participant, out var pending) ? pending : Task.FromResult(Answers.GetValueOrDefault(participant) ?? new PrepareAnswer(true));
        }

        public Task<DecisionDelivery> DeliverAsync(string transactionId, string participant, TransactionDecision decision)
        {
            Deliveries++;
            if (DeliveryFailuresLeft.TryGetValue(participant, out var left) && left > 0)
            {
                DeliveryFailuresLeft[participant] = left - 1;
                return Task.FromException<DecisionDelivery>(new TimeoutException("no answer"));
            }

            if (Refuse.Contains(participant))
            {
                return Task.FromResult(DecisionDelivery.Refused);
            }

            Delivered.Enqueue(participant + ":" + (decision == TransactionDecision.Commit ? "commit" : "abort"));
            return Task.FromResult(DecisionDelivery.Acknowledged);
        }
    }

    /// <summary>Insert-if-absent over a dictionary; inserts can be held to make two writers race.</summary>
    private sealed class FakeDecisionStore : ITransactionDecisionStore
    {
        private readonly Dictionary<string, TransactionDecisionRecord> _rows = new(StringComparer.Ordinal);
        private TaskCompletionSource _gate = CompletedGate();
        private int _version;

        /// <summary>While set, inserts are decided in the order they arrive but answered only on <see cref="ReleaseInserts"/>.</summary>
        public bool HoldInserts
        {
            set => _gate = value ? new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously) : CompletedGate();
        }

        public bool FailNext { get; set; }

        public int Inserts { get; private set; }

        public void ReleaseInserts() => _gate.TrySetResult();

        public Task<TransactionDecisionRecord?> ReadAsync(string transactionId)
        {
            lock (_rows)
            {
                return Task.FromResult(_rows.GetValueOrDefault(transactionId));
            }
        }

        public async Task<(TransactionDecisionRecord Record, bool Inserted)> InsertIfAbsentAsync(TransactionDecisionRecord record)
        {
            // The store serialises inserts by arrival (as a database does), whatever order the held
            // answers are then delivered in.
            var answer = Insert(record);
            await _gate.Task;
            return answer ?? throw new IOException("storage unavailable");
        }

        private (TransactionDecisionRecord Record, bool Inserted)? Insert(TransactionDecisionRecord record)
        {
            lock (_rows)
            {
                if (FailNext)
                {
                    FailNext = false;
                    return null;
                }

                if (_rows.TryGetValue(record.Snapshot.TransactionId, out var existing))
                {
                    return (existing, false);
                }

                Inserts++;
                var stored = record with { Version = (++_version).ToString(System.Globalization.CultureInfo.InvariantCulture) };
                _rows[record.Snapshot.TransactionId] = stored;
                return (stored, true);
            }
        }

        public Task<TransactionDecisionRecord> UpdateAsync(TransactionDecisionRecord record)
        {
            lock (_rows)
            {
                if (!_rows.TryGetValue(record.Snapshot.TransactionId, out var existing) || existing.Version != record.Version)
                {
                    throw new InvalidOperationException("version changed");
                }

                var stored = record with { Version = (++_version).ToString(System.Globalization.CultureInfo.InvariantCulture) };
                _rows[record.Snapshot.TransactionId] = stored;
                return Task.FromResult(stored);
            }
        }

        private static TaskCompletionSource CompletedGate()
        {
            var done = new TaskCompletionSource();
            done.SetResult();
            return done;
        }
    }
}

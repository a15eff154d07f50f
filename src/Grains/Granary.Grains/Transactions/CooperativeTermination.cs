using Microsoft.Extensions.Logging;

namespace Granary.Transactions;

/// <summary>
/// How a participant settles an in-doubt transaction without being told: for two-phase commit it asks
/// the coordinator about every transaction prepared too long (presumed abort: no record means
/// aborted); for three-phase commit it asks its peers once the transaction's timeout expired and
/// decides alone (<see cref="ThreePhaseTermination"/>). Each runs on a grain timer while there is
/// something in doubt, and resolves through the participant protocol.
/// </summary>
public sealed class CooperativeTermination(IGrainBase grain, IGrainFactory grains, TimeProvider time, TransactionOptions options, ILogger logger, IParticipantGrainResource resource, Func<ParticipantProtocol<TxOperation>> currentProtocol, Func<ParticipantState> currentState, Func<ParticipantWrite, Task> write)
{
    private IGrainTimer? _inquiryTimer;
    private IGrainTimer? _terminationTimer;
    private TimeSpan _terminationPeriod;

    /// <summary>Starts the timers that something in doubt needs (on activation).</summary>
    public void Ensure()
    {
        EnsureInquiryTimer();
        EnsureTerminationTimer();
    }

    /// <summary>
    /// After a prepare: the inquiry timer, and the termination timer only for a three-phase prepare (a
    /// two-phase one does not change what the termination timer watches, and the termination timer
    /// stops itself once nothing three-phase is open).
    /// </summary>
    public void EnsureAfterPrepare(bool threePhase)
    {
        EnsureInquiryTimer();
        if (threePhase)
        {
            EnsureTerminationTimer();
        }
    }

    private void EnsureInquiryTimer()
    {
        if (_inquiryTimer is null && currentState().Reservations.Count > 0)
        {
            _inquiryTimer = grain.RegisterGrainTimer(
                InquireAsync,
                new GrainTimerCreationOptions(options.InquiryInterval, options.InquiryInterval) { KeepAlive = true });
        }
    }

    /// <summary>Two-phase commit: ask the coordinator of every transaction prepared too long.</summary>
    private async Task InquireAsync(CancellationToken cancellationToken)
    {
        var protocol = currentProtocol();
        foreach (var transactionId in protocol.Ledger.DueForInquiry(time.GetUtcNow(), options.PreparedTimeout, options.InquiryInterval).Take(32))
        {
            TxInquiryAnswer answer;
            try
            {
                answer = await grains.GetGrain<ITwoPhaseCommitCoordinatorGrain>(transactionId).InquireAsync().WaitAsync(options.CallTimeout, time, cancellationToken);
            }
            catch (Exception ex) when (ex is not OperationCanceledException)
            {
                TransactionLog.LogDebugInquiryFailed(logger, resource.Describe, transactionId, ex.Message);
                protocol.Ledger.MarkInquired(transactionId, time.GetUtcNow());
                continue;
            }

            var inquiry = answer switch
            {
                TxInquiryAnswer.Committed => InquiryAnswer.Committed,
                TxInquiryAnswer.Aborted => InquiryAnswer.Aborted,
                TxInquiryAnswer.Pending => InquiryAnswer.Pending,
                _ => InquiryAnswer.Unknown,
            };
            if (protocol.Resolve(transactionId, inquiry, time.GetUtcNow()) is { } step)
            {
                await write(step.Write);
                TransactionLog.LogInformationResolvedByInquiry(logger, resource.Describe, transactionId, answer.ToString());
            }
        }

        if (currentState().Reservations.Count == 0 && _inquiryTimer is not null)
        {
            _inquiryTimer.Dispose();
            _inquiryTimer = null;
        }
    }

    private void EnsureTerminationTimer()
    {
        var open = currentProtocol().Ledger.Prepared.Where(e => e.IsThreePhase).ToList();
        if (open.Count == 0)
        {
            _terminationTimer?.Dispose();
            _terminationTimer = null;
            return;
        }

        // Check often enough that a timeout is acted on within a quarter of itself.
        var period = TimeSpan.FromTicks(Math.Max(TimeSpan.FromMilliseconds(50).Ticks, open.Min(e => e.ThreePhaseTimeout!.Value.Ticks) / 4));
        if (_terminationTimer is not null && period >= _terminationPeriod)
        {
            return;
        }

        _terminationTimer?.Dispose();
        _terminationPeriod = period;
        _terminationTimer = grain.RegisterGrainTimer(
            TerminateAsync,
            new GrainTimerCreationOptions(period, period) { KeepAlive = true });
    }

    /// <summary>Three-phase commit termination: decide alone on every transaction whose timeout expired.</summary>
    private async Task TerminateAsync(CancellationToken cancellationToken)
    {
        var protocol = currentProtocol();
        foreach (var entry in protocol.Ledger.DueForTermination(time.GetUtcNow()).Take(32))
        {
            var peers = currentState().ThreePhasePeers.GetValueOrDefault(entry.TransactionId) ?? [];
            var statuses = new List<ParticipantStatus?>();
            var unreachable = 0;
            if (entry.Status == ParticipantStatus.Prepared)
            {
                var timeout = entry.ThreePhaseTimeout!.Value;
                var bound = options.CallTimeout < timeout ? options.CallTimeout : timeout;
                var answers = await Task.WhenAll(peers.Select(async p =>
                {
                    if (resource.Unreachable)
                    {
                        return (Reached: false, Status: (ParticipantStatus?)null);
                    }

                    try
                    {
                        var view = await Participants.Transactional(grains, p).GetTransactionAsync(entry.TransactionId).WaitAsync(bound, time, cancellationToken);
                        return (Reached: true, Status: view is null ? null : Enum.Parse<ParticipantStatus>(view.Status));
                    }
                    catch (Exception ex) when (ex is not OperationCanceledException)
                    {
                        TransactionLog.LogDebugInquiryFailed(logger, resource.Describe, entry.TransactionId, ex.Message);
                        return (Reached: false, Status: null);
                    }
                }));
                statuses.AddRange(answers.Where(a => a.Reached).Select(a => a.Status));
                unreachable = answers.Count(a => !a.Reached);
            }

            // A peer silent for a second full timeout is presumed crashed (the no-partition assumption).
            var presumeCrashed = time.GetUtcNow() - entry.Since >= 2 * entry.ThreePhaseTimeout!.Value;
            var decision = ThreePhaseTermination.Decide(entry.Status, statuses, unreachable, presumeCrashed);
            switch (decision)
            {
                case TerminationDecision.Commit:
                    await write(protocol.Commit(entry.TransactionId, time.GetUtcNow()).Write);
                    break;
                case TerminationDecision.Abort:
                    await write(protocol.Abort(entry.TransactionId, time.GetUtcNow()).Write);

                    // Tell the peers that have not decided, so that one that never got can-commit refuses it if it comes late.
                    foreach (var p in resource.Unreachable ? [] : peers)
                    {
                        _ = Participants.Transactional(grains, p).AbortAsync(entry.TransactionId).ContinueWith(t => t.Exception, TaskScheduler.Default);
                    }

                    break;
                default:
                    protocol.Ledger.MarkInquired(entry.TransactionId, time.GetUtcNow());
                    continue;
            }

            TransactionLog.LogInformationTerminated(logger, resource.Describe, entry.TransactionId, entry.Status.ToString(), decision.ToString(), statuses.Count, unreachable);
        }

        EnsureTerminationTimer();
    }
}

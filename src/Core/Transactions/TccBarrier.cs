using System.Globalization;

namespace Granary.Transactions;

/// <summary>What a TCC participant does with an action (try).</summary>
public enum TccActionVerdict
{
    /// <summary>Run it, then call <see cref="TccBarrier.ActionDone"/>.</summary>
    Run = 1,

    /// <summary>Already ran (duplicate): succeed without running again.</summary>
    AlreadyDone = 2,

    /// <summary>Its compensation already ran (suspension guard): refuse, never run.</summary>
    RefusedAfterCompensation = 3,
}

/// <summary>What a TCC participant does with a compensation (cancel).</summary>
public enum TccCompensationVerdict
{
    /// <summary>Undo the action, then call <see cref="TccBarrier.Compensated"/>.</summary>
    Run = 1,

    /// <summary>The action never ran (empty rollback): do nothing; a barrier is recorded.</summary>
    NoOpWithoutAction = 2,

    /// <summary>Duplicate: already compensated.</summary>
    AlreadyCompensated = 3,
}

/// <summary>State of one saga step at one participant.</summary>
public enum TccStepState
{
    /// <summary>The action ran; its saga may still compensate it or send it again.</summary>
    Done = 1,

    /// <summary>The action ran and was undone.</summary>
    Compensated = 2,

    /// <summary>A compensation came first; the action is refused.</summary>
    Barrier = 3,

    /// <summary>The action ran and its saga has finished (it sends nothing for this step any more): kept only until late copies of the action can no longer arrive.</summary>
    Released = 4,
}

/// <summary>One saga step as a participant remembers it.</summary>
/// <param name="State">Where the step is.</param>
/// <param name="Since">When it entered <paramref name="State"/>.</param>
/// <param name="SagaId">The saga that sent it (the step key starts with it), or null when the sender was not a saga grain.</param>
public sealed record TccStep(TccStepState State, DateTimeOffset Since, string? SagaId);

/// <summary>
/// TCC-style guards for saga participants, keyed by step (saga id + step): a compensation without
/// its action is a no-op that leaves a barrier (empty rollback), an action arriving after its
/// compensation is refused (suspension), and duplicates of either are absorbed.
/// <para>
/// Bounded memory. Every action a saga sends carries a deadline (its send time plus the time the saga
/// waits for the answer, see <c>PrepareDeadline</c>) and the participant refuses it after that, so a
/// copy of an action can only arrive within <c>window</c> (the saga's call timeout plus the tolerated
/// clock skew) of its saga having stopped sending it. From that the retention of each state follows:
/// <list type="bullet">
/// <item><see cref="TccStepState.Barrier"/> and <see cref="TccStepState.Compensated"/>: a saga never sends
/// an action after the compensation of the same step, so once <c>window</c> has passed since the
/// compensation arrived no action can still arrive and the entry is dropped. A compensation arriving
/// later finds nothing and is an empty rollback: nothing is undone twice.</item>
/// <item><see cref="TccStepState.Done"/>: kept for as long as its saga may still compensate the step or
/// send the action again, i.e. until the saga says it has finished (<see cref="SagaFinished"/>, after
/// the participant asked: <see cref="DueForInquiry"/>). Then it becomes
/// <see cref="TccStepState.Released"/> and is dropped <c>window</c> later. A saga that stays unfinished
/// (waiting for an operator in CompensationFailed) keeps its steps for as long as that lasts.</item>
/// <item>Steps sent by anything other than a saga grain (no saga id) are kept for
/// <c>unownedRetention</c> whatever their state: nobody can be asked about them.</item>
/// </list>
/// </para>
/// </summary>
public sealed class TccBarrier
{
    private readonly Dictionary<string, TccStep> _steps = new(StringComparer.Ordinal);
    private readonly Dictionary<string, (int Attempt, DateTimeOffset NextAsk)> _inquiries = new(StringComparer.Ordinal);

    /// <summary>Creates an empty barrier table or restores one.</summary>
    public TccBarrier(IEnumerable<KeyValuePair<string, TccStep>>? steps = null)
    {
        foreach (var (k, v) in steps ?? [])
        {
            _steps[k] = v;
        }
    }

    /// <summary>Everything remembered.</summary>
    public IReadOnlyDictionary<string, TccStep> Steps => _steps;

    /// <summary>True while a step is <see cref="TccStepState.Done"/> for a saga that can be asked whether it has finished.</summary>
    public bool AwaitsSagas => _steps.Values.Any(s => s is { State: TccStepState.Done, SagaId: not null });

    /// <summary>Classifies an action.</summary>
    public TccActionVerdict CheckAction(string key) => _steps.GetValueOrDefault(key)?.State switch
    {
        TccStepState.Done or TccStepState.Released => TccActionVerdict.AlreadyDone,
        TccStepState.Compensated or TccStepState.Barrier => TccActionVerdict.RefusedAfterCompensation,
        _ => TccActionVerdict.Run,
    };

    /// <summary>Records that the action ran; <paramref name="sagaId"/> is the saga that sent it (null, or not a prefix of the key: not a saga grain).</summary>
    public void ActionDone(string key, DateTimeOffset now, string? sagaId) =>
        _steps[key] = new TccStep(TccStepState.Done, now, OwnerOf(key, sagaId));

    /// <summary>Classifies a compensation; records the barrier for an empty rollback.</summary>
    public TccCompensationVerdict CheckCompensation(string key, DateTimeOffset now, string? sagaId)
    {
        switch (_steps.GetValueOrDefault(key)?.State)
        {
            case TccStepState.Done:
            case TccStepState.Released:
                return TccCompensationVerdict.Run;
            case TccStepState.Compensated:
            case TccStepState.Barrier:
                return TccCompensationVerdict.AlreadyCompensated;
            default:
                _steps[key] = new TccStep(TccStepState.Barrier, now, OwnerOf(key, sagaId));
                return TccCompensationVerdict.NoOpWithoutAction;
        }
    }

    /// <summary>Records that the compensation ran.</summary>
    public void Compensated(string key, DateTimeOffset now) =>
        _steps[key] = new TccStep(TccStepState.Compensated, now, _steps.GetValueOrDefault(key)?.SagaId);

    /// <summary>
    /// Sagas to ask whether they have finished: those with a step <see cref="TccStepState.Done"/> for
    /// at least <paramref name="firstAfter"/>, first asked then and again after a delay that doubles
    /// from there while they stay unfinished (<see cref="SagaPending"/>); at most <paramref name="max"/>.
    /// </summary>
    public IReadOnlyList<string> DueForInquiry(DateTimeOffset now, TimeSpan firstAfter, int max)
    {
        var due = new List<string>();
        foreach (var group in _steps.Values.Where(s => s is { State: TccStepState.Done, SagaId: not null }).GroupBy(s => s.SagaId!, StringComparer.Ordinal))
        {
            var asked = _inquiries.TryGetValue(group.Key, out var inquiry);
            if (asked ? inquiry.NextAsk <= now : group.Min(s => s.Since) + firstAfter <= now)
            {
                due.Add(group.Key);
                if (due.Count == max)
                {
                    break;
                }
            }
        }

        return due;
    }

    /// <summary>The saga answered that it has not finished (or could not be asked): ask again later, backing off.</summary>
    public void SagaPending(string sagaId, DateTimeOffset now, TimeSpan firstAfter, TimeSpan maxInterval)
    {
        var attempt = _inquiries.TryGetValue(sagaId, out var inquiry) ? inquiry.Attempt + 1 : 1;
        _inquiries[sagaId] = (attempt, now + new RetryBackoff(firstAfter, maxInterval, Jitter: 0).Delay(attempt, 0));
    }

    /// <summary>The saga has finished (or has no record): its steps here are released and dropped a window later.</summary>
    public int SagaFinished(string sagaId, DateTimeOffset now)
    {
        _inquiries.Remove(sagaId);
        var released = 0;
        foreach (var (key, step) in _steps.Where(kv => kv.Value is { State: TccStepState.Done } && kv.Value.SagaId == sagaId).ToList())
        {
            _steps[key] = step with { State = TccStepState.Released, Since = now };
            released++;
        }

        return released;
    }

    /// <summary>
    /// Drops compensated, barred and released steps older than <paramref name="window"/>, and every
    /// step without a saga older than <paramref name="unownedRetention"/>. Returns how many were dropped.
    /// </summary>
    public int Prune(DateTimeOffset now, TimeSpan window, TimeSpan unownedRetention)
    {
        var drop = _steps
            .Where(kv => kv.Value.SagaId is null
                ? now - kv.Value.Since > unownedRetention
                : kv.Value.State != TccStepState.Done && now - kv.Value.Since > window)
            .Select(kv => kv.Key)
            .ToList();
        foreach (var key in drop)
        {
            _steps.Remove(key);
        }

        foreach (var sagaId in _inquiries.Keys.Where(id => !_steps.Values.Any(s => s.SagaId == id && s.State == TccStepState.Done)).ToList())
        {
            _inquiries.Remove(sagaId);
        }

        return drop.Count;
    }

    /// <summary>
    /// The saga id of a step key written before steps carried one, when the key says it unambiguously:
    /// saga grains build keys as <c>{sagaId}/{step}:{name}</c>, so the id is known when exactly one
    /// <c>/{digits}:</c> occurs in the key. Null otherwise.
    /// </summary>
    public static string? SagaIdOfLegacyKey(string key)
    {
        ArgumentNullException.ThrowIfNull(key);
        string? found = null;
        for (var slash = key.IndexOf('/', StringComparison.Ordinal); slash >= 0; slash = key.IndexOf('/', slash + 1))
        {
            var end = slash + 1;
            while (end < key.Length && char.IsAsciiDigit(key[end]))
            {
                end++;
            }

            if (end > slash + 1 && end < key.Length && key[end] == ':')
            {
                if (found is not null)
                {
                    return null;
                }

                found = key[..slash];
            }
        }

        return found is { Length: > 0 } ? found : null;
    }

    private static string? OwnerOf(string key, string? sagaId) =>
        sagaId is { Length: > 0 } && key.Length > sagaId.Length && key.StartsWith(sagaId, StringComparison.Ordinal) && key[sagaId.Length] == '/' ? sagaId : null;
}

/// <summary>
/// Compact text form of a <see cref="TccStep"/> and its key, one string per step:
/// <c>{D|C|B|R}{unix ms}:{saga id length}:{key}</c>; the saga id is the key's prefix of that length
/// (0: none). A participant writes its barrier table with every state change, so its size is paid on
/// every write (see <see cref="ParticipantOutcomeCodec"/> for the same reasoning).
/// </summary>
public static class TccStepCodec
{
    /// <summary>Encodes a step.</summary>
    public static string Encode(string key, TccStep step)
    {
        ArgumentNullException.ThrowIfNull(key);
        ArgumentNullException.ThrowIfNull(step);
        var letter = step.State switch
        {
            TccStepState.Done => 'D',
            TccStepState.Compensated => 'C',
            TccStepState.Barrier => 'B',
            TccStepState.Released => 'R',
            _ => throw new ArgumentException($"unknown step state {step.State}", nameof(step)),
        };
        return string.Create(CultureInfo.InvariantCulture, $"{letter}{step.Since.ToUnixTimeMilliseconds()}:{step.SagaId?.Length ?? 0}:{key}");
    }

    /// <summary>Decodes what <see cref="Encode"/> produced.</summary>
    /// <exception cref="FormatException">The text is not an encoded step.</exception>
    public static KeyValuePair<string, TccStep> Decode(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        TccStepState? state = text.Length > 0 ? text[0] switch
        {
            'D' => TccStepState.Done,
            'C' => TccStepState.Compensated,
            'B' => TccStepState.Barrier,
            'R' => TccStepState.Released,
            _ => null,
        } : null;
        var timeEnd = text.IndexOf(':', StringComparison.Ordinal);
        var lengthEnd = timeEnd < 0 ? -1 : text.IndexOf(':', timeEnd + 1);
        if (state is null
            || lengthEnd < 0
            || !long.TryParse(text.AsSpan(1, timeEnd - 1), NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var ms)
            || !int.TryParse(text.AsSpan(timeEnd + 1, lengthEnd - timeEnd - 1), NumberStyles.None, CultureInfo.InvariantCulture, out var length)
            || length >= text.Length - lengthEnd - 1)
        {
            throw new FormatException($"not an encoded saga step: '{text}'");
        }

        var key = text[(lengthEnd + 1)..];
        return KeyValuePair.Create(key, new TccStep(state.Value, DateTimeOffset.FromUnixTimeMilliseconds(ms), length == 0 ? null : key[..length]));
    }
}

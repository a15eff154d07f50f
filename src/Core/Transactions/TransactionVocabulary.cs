namespace Granary.Transactions;

/// <summary>A participant's answer to prepare (or can-commit).</summary>
public enum Vote
{
    /// <summary>The participant holds a durable reservation and will commit if told to.</summary>
    Yes = 1,

    /// <summary>The participant refuses; the transaction must abort.</summary>
    No = 2,
}

/// <summary>The coordinator's durable decision.</summary>
public enum TransactionDecision
{
    /// <summary>Not decided yet.</summary>
    None = 0,

    /// <summary>Every participant voted yes and the decision was persisted.</summary>
    Commit = 1,

    /// <summary>Some participant voted no, failed or timed out (or the coordinator lost its undecided state).</summary>
    Abort = 2,
}

/// <summary>What a coordinator tells a participant that asks about a transaction (cooperative termination).</summary>
public enum InquiryAnswer
{
    /// <summary>No record: under presumed abort this means aborted.</summary>
    Unknown = 0,

    /// <summary>Still collecting votes: keep waiting.</summary>
    Pending = 1,

    /// <summary>Decided commit.</summary>
    Committed = 2,

    /// <summary>Decided abort.</summary>
    Aborted = 3,
}

/// <summary>
/// Exponential backoff with jitter: attempt n waits <c>min(Max, Initial * 2^(n-1))</c>, reduced by up to
/// <see cref="Jitter"/> of itself at random so that many retriers do not stampede in step.
/// </summary>
/// <param name="Initial">Delay before the second attempt.</param>
/// <param name="Max">Upper bound of any delay.</param>
/// <param name="Jitter">Fraction (0..1) of the delay that is randomised away.</param>
public sealed record RetryBackoff(TimeSpan Initial, TimeSpan Max, double Jitter = 0.5)
{
    /// <summary>A sensible default: 100 ms doubling to 5 s, half jitter.</summary>
    public static RetryBackoff Default { get; } = new(TimeSpan.FromMilliseconds(100), TimeSpan.FromSeconds(5));

    /// <summary>The delay after failed attempt <paramref name="attempt"/> (1-based), given a uniform random number in [0, 1).</summary>
    public TimeSpan Delay(int attempt, double random)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(attempt, 1);
        if (double.IsNaN(random) || random < 0 || random >= 1)
        {
            throw new ArgumentOutOfRangeException(nameof(random), random, "must be in [0, 1)");
        }

        var exponent = Math.Min(attempt - 1, 30);
        var raw = Math.Min(Max.Ticks, Initial.Ticks * Math.Pow(2, exponent));
        var jitter = Math.Clamp(Jitter, 0, 1);
        return TimeSpan.FromTicks((long)(raw * (1 - (jitter * random))));
    }
}

/// <summary>
/// The transaction ids the SDK makes: <see cref="Prefix"/> and a new GUID as 32 lowercase hex digits.
/// Participants store these ids packed (<see cref="ParticipantOutcomeCodec"/>); any other id is kept as given.
/// </summary>
public static class TransactionIds
{
    /// <summary>What every SDK-made id starts with.</summary>
    public const string Prefix = "tx-";

    /// <summary>A new unique transaction id.</summary>
    public static string New() => Prefix + Guid.NewGuid().ToString("N");
}

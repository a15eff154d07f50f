using Orleans.Runtime;

namespace Granary.Transactions;

/// <summary>
/// The time after which a prepare's coordinator (or a saga, for a step's action) no longer waits for
/// the answer, carried beside the call in Orleans' request context (so the participant contract is
/// unchanged). A participant refuses a prepare or a saga action received after it: a message delayed
/// past its sender's decision can then never act again for a transaction or saga step the
/// participant has already finished and forgotten. A message without one (an older coordinator, a
/// test) is taken as before.
/// </summary>
public static class PrepareDeadline
{
    /// <summary>The request-context key.</summary>
    public const string Key = "granary.tx.prepare-by";

    /// <summary>Sets the deadline for the calls made from here on in this asynchronous flow.</summary>
    public static void Set(DateTimeOffset deadline) => RequestContext.Set(Key, deadline.UtcTicks);

    /// <summary>The deadline the current call carries, if any.</summary>
    public static DateTimeOffset? Current =>
        RequestContext.Get(Key) is long ticks ? new DateTimeOffset(ticks, TimeSpan.Zero) : null;
}

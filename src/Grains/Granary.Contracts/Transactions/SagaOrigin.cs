using Orleans.Runtime;

namespace Granary.Transactions;

/// <summary>
/// The saga a step call comes from, carried beside the call in Orleans' request context (so the
/// participant contract is unchanged), as <see cref="PrepareDeadline"/> carries the time after which
/// the saga no longer waits for the answer. A participant remembers which saga each step belongs to
/// and asks that saga (<see cref="ISagaGrain.GetAsync"/>) whether it has finished before it forgets
/// the step (see <c>TccBarrier</c>). A call without one (a caller that drives participants itself)
/// is remembered for a fixed time only.
/// </summary>
public static class SagaOrigin
{
    /// <summary>The request-context key.</summary>
    public const string Key = "granary.tx.saga";

    /// <summary>Names the saga for the calls made from here on in this asynchronous flow.</summary>
    public static void Set(string sagaId) => RequestContext.Set(Key, sagaId);

    /// <summary>The saga the current call comes from, if any.</summary>
    public static string? Current => RequestContext.Get(Key) as string;
}

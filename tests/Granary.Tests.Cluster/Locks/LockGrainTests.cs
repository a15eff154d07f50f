using Granary.Tests.Cluster.Infrastructure;

namespace Granary.Tests.Cluster.Locks;

/// <summary>The wait the process-cluster lock tests call by this name; it is <see cref="Eventually"/>.</summary>
internal static class LockGrainTests
{
    /// <summary>Waits until <paramref name="condition"/> holds, at most <paramref name="seconds"/>.</summary>
    internal static Task WaitUntilAsync(Func<Task<bool>> condition, double seconds = 10)
        => Eventually.TrueAsync("the awaited condition", condition, TimeSpan.FromSeconds(seconds));
}

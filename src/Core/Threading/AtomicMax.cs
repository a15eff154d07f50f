namespace Granary.Threading;

/// <summary>Raises a shared value to a candidate when the candidate is larger, safely against concurrent raisers.</summary>
public static class AtomicMax
{
    /// <summary>Sets <paramref name="target"/> to <paramref name="value"/> unless it already holds as much. Returns whether it did.</summary>
    public static bool Raise(ref long target, long value)
    {
        var seen = Volatile.Read(ref target);
        while (value > seen)
        {
            var was = Interlocked.CompareExchange(ref target, value, seen);
            if (was == seen)
            {
                return true;
            }

            seen = was;
        }

        return false;
    }
}

namespace Granary.LoadBalancing;

/// <summary>Shared "least loaded, ties rotated" selection for the connection-counting strategies.</summary>
internal static class LeastLoaded
{
    private const int StackLimit = 64;

    /// <summary>
    /// The index of the member with the lowest in-flight/weight (cross-multiplied, no division);
    /// among equal members the <paramref name="rotation"/>-th one (mod ties) so ties share the work.
    /// Loads and weights are read once so a concurrent update cannot change the tie set mid-scan.
    /// </summary>
    public static int Pick(ReadOnlySpan<BalancerMemberState> members, bool weighted, uint rotation)
    {
        var n = members.Length;
        Span<long> loads = n <= StackLimit ? stackalloc long[n] : new long[n];
        Span<int> weights = n <= StackLimit ? stackalloc int[n] : new int[n];
        for (var i = 0; i < n; i++)
        {
            loads[i] = members[i].InFlight;
            weights[i] = weighted ? members[i].Weight : 1;
        }

        var best = 0;
        var ties = 1;
        for (var i = 1; i < n; i++)
        {
            var c = Compare(loads, weights, i, best);
            if (c < 0)
            {
                best = i;
                ties = 1;
            }
            else if (c == 0)
            {
                ties++;
            }
        }

        if (ties == 1)
        {
            return best;
        }

        // best is the first of the tied members; take the k-th tie after it.
        var skip = (int)(rotation % (uint)ties);
        for (var i = best; i < n; i++)
        {
            if (Compare(loads, weights, i, best) == 0 && skip-- == 0)
            {
                return i;
            }
        }

        return best;
    }

    // load[a]/weight[a] vs load[b]/weight[b] as load[a]*weight[b] vs load[b]*weight[a].
    private static int Compare(ReadOnlySpan<long> loads, ReadOnlySpan<int> weights, int a, int b) =>
        ((Int128)loads[a] * weights[b]).CompareTo((Int128)loads[b] * weights[a]);
}

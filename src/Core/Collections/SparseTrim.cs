namespace Granary.Collections;

/// <summary>
/// Gives back the memory of a dictionary or list that grew during a burst and has since emptied:
/// neither shrinks by itself, so a shard that held a million keys for a minute would keep their
/// tables for its lifetime. Like Redis's dictionaries, a table is rebuilt at its current size once
/// it is less than an eighth full; below <see cref="MinimumCapacity"/> slots it is left alone.
/// Rebuilding costs one pass over the survivors, fewer than a third of the entries removed since the
/// table reached its size (it held at least half its slots then), so the cost per removal stays constant.
/// </summary>
public static class SparseTrim
{
    /// <summary>Tables with fewer slots than this are never trimmed (they cost at most a few kilobytes).</summary>
    public const int MinimumCapacity = 1024;

    /// <summary>Trims <paramref name="table"/> when fewer than an eighth of its slots are used. Returns whether it did.</summary>
    public static bool TrimIfSparse<TKey, TValue>(Dictionary<TKey, TValue> table)
        where TKey : notnull
    {
        ArgumentNullException.ThrowIfNull(table);
        if (!IsSparse(table.Count, table.Capacity))
        {
            return false;
        }

        table.TrimExcess();
        return true;
    }

    /// <summary>Trims <paramref name="list"/> when fewer than an eighth of its slots are used. Returns whether it did.</summary>
    public static bool TrimIfSparse<T>(List<T> list)
    {
        ArgumentNullException.ThrowIfNull(list);
        if (!IsSparse(list.Count, list.Capacity))
        {
            return false;
        }

        list.Capacity = list.Count;
        return true;
    }

    private static bool IsSparse(int count, int capacity) => capacity >= MinimumCapacity && count < capacity / 8;
}

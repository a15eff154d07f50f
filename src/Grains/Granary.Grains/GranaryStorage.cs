namespace Granary;

/// <summary>Grain storage provider names used in <c>[PersistentState]</c> attributes.</summary>
public static class GranaryStorage
{
    /// <summary>The store every Granary grain uses: PostgreSQL shards or memory, chosen by configuration.</summary>
    public const string Default = "granary";
}

using System.Collections.Concurrent;
using System.Globalization;
using System.Reflection;
using Granary.Errors;

namespace Granary.Server.Diagnostics;

/// <summary>
/// Checks the key of every call to a <c>granary.*</c> grain before the grain method runs: a grain
/// class marked <see cref="KeyIsNameAttribute"/> needs a valid name (<see cref="Guard.Name"/>),
/// every other one a key of at most <see cref="Limits.MaxGrainKeyLength"/> characters without
/// U+0000. A refused call gets <see cref="InvalidRequestException"/> and changes nothing. This is
/// the one place that holds for every entry point of every family, whatever the method; the grains'
/// own argument checks come after it.
/// </summary>
public sealed class GrainKeyFilter : IIncomingGrainCallFilter
{
    private static readonly ConcurrentDictionary<Type, KeyIsNameAttribute?> NameRules = new();

    /// <inheritdoc/>
    public Task Invoke(IIncomingGrainCallContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        if (WireErrorFilter.IsGranaryGrain(context.TargetId))
        {
            Check(context.TargetId, context.Grain?.GetType());
        }

        return context.Invoke();
    }

    /// <summary>Throws <see cref="InvalidRequestException"/> when <paramref name="id"/>'s key breaks the rule for <paramref name="grainClass"/>.</summary>
    public static void Check(GrainId id, Type? grainClass)
    {
        var rule = grainClass is null ? null : NameRules.GetOrAdd(grainClass, static t => t.GetCustomAttribute<KeyIsNameAttribute>());
        var bytes = id.Key.AsSpan();
        if (rule is null && bytes.Length <= Limits.MaxGrainKeyLength && !bytes.Contains((byte)0))
        {
            // Fast path: UTF-8 is never shorter in bytes than the text is in characters.
            return;
        }

        var key = id.Key.ToString();
        if (rule is not null)
        {
            Guard.Name(key, rule.Parameter, rule.MaxLength);
            return;
        }

        if (key.Length > Limits.MaxGrainKeyLength)
        {
            throw new InvalidRequestException("key", string.Create(CultureInfo.InvariantCulture, $"the key of {id.Type} is {key.Length} characters long; the limit is {Limits.MaxGrainKeyLength}"));
        }

        Guard.Storable(key, "key");
    }
}

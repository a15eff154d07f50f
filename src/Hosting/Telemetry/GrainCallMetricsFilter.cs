using System.Collections.Concurrent;
using System.Diagnostics;
using System.Diagnostics.Metrics;
using Granary.Errors;

namespace Granary.Server.Telemetry;

/// <summary>
/// Measures every call into a Granary grain on this silo (grain types <c>granary.&lt;family&gt;.&lt;name&gt;</c>):
/// <c>granary.grain.calls</c> (counter) and <c>granary.grain.call.duration</c> (histogram, ms), tagged
/// with family, grain, method and outcome (<c>ok</c>; <c>rejected</c> for a typed Granary error
/// such as bad input or a conflict; <c>error</c> for anything else, <c>UNAVAILABLE</c> included). Meter <c>Granary</c>.
/// </summary>
public sealed class GrainCallMetricsFilter : IIncomingGrainCallFilter
{
    /// <summary>The meter name.</summary>
    public const string MeterName = "Granary";

    private readonly Counter<long> _calls;
    private readonly Histogram<double> _duration;

    // Family and grain names by grain type, parsed once; null for types that are not measured.
    private readonly ConcurrentDictionary<GrainType, (string Family, string Grain)?> _names = new();

    /// <summary>Creates the instruments on the silo's meter factory.</summary>
    public GrainCallMetricsFilter(IMeterFactory meters)
    {
        ArgumentNullException.ThrowIfNull(meters);
        var meter = meters.Create(MeterName);
        _calls = meter.CreateCounter<long>("granary.grain.calls", description: "Calls into Granary grains");
        _duration = meter.CreateHistogram<double>("granary.grain.call.duration", unit: "ms", description: "Time spent in Granary grain calls, from arrival to reply");
    }

    /// <inheritdoc/>
    public async Task Invoke(IIncomingGrainCallContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        var names = _names.GetOrAdd(context.TargetId.Type, Describe);
        if (names is null)
        {
            await context.Invoke();
            return;
        }

        var started = Stopwatch.GetTimestamp();
        var outcome = "ok";
        try
        {
            await context.Invoke();
        }
        catch (GranaryException ex) when (!ex.IsRetryable)
        {
            outcome = "rejected";
            throw;
        }
        catch
        {
            outcome = "error";
            throw;
        }
        finally
        {
            var tags = new TagList
            {
                { "family", names.Value.Family },
                { "grain", names.Value.Grain },
                { "method", context.MethodName },
                { "outcome", outcome },
            };
            _calls.Add(1, tags);
            _duration.Record(Stopwatch.GetElapsedTime(started).TotalMilliseconds, tags);
        }
    }

    /// <summary>"granary.&lt;family&gt;.&lt;name&gt;" -> (family, name); null for other types and for the stats grain itself.</summary>
    private static (string Family, string Grain)? Describe(GrainType grainType)
    {
        var type = grainType.ToString();
        if (type is null || !type.StartsWith("granary.", StringComparison.Ordinal) || type.StartsWith("granary.diagnostics.", StringComparison.Ordinal))
        {
            return null;
        }

        var dot = type.IndexOf('.', 8);
        var family = dot < 0 ? type[8..] : type[8..dot];
        return (family, dot < 0 ? family : type[(dot + 1)..]);
    }
}

using System.Globalization;
using Granary.LoadBalancing;

namespace Granary.Tests.Unit.LoadBalancing;

/// <summary>Helpers for driving a balancer in tests.</summary>
internal static class Picks
{
    public static BalancerMember[] Members(params string[] ids) => [.. ids.Select(id => new BalancerMember(id))];

    public static string Select(ILoadBalancer balancer, BalancerContext context = default) =>
        balancer.Select(context) ?? throw new InvalidOperationException("Expected a member, got null.");

    public static List<string> Many(ILoadBalancer balancer, int count, Func<int, BalancerContext>? context = null)
    {
        var picks = new List<string>(count);
        for (var i = 0; i < count; i++)
        {
            picks.Add(Select(balancer, context?.Invoke(i) ?? default));
        }

        return picks;
    }

    public static Dictionary<string, int> Histogram(IEnumerable<string> picks) =>
        picks.GroupBy(p => p, StringComparer.Ordinal).ToDictionary(g => g.Key, g => g.Count(), StringComparer.Ordinal);

    public static void Start(ILoadBalancer balancer, string id, int times)
    {
        for (var i = 0; i < times; i++)
        {
            balancer.OnStart(id);
        }
    }

    public static void ReportLatency(ILoadBalancer balancer, string id, double milliseconds, int times = 1)
    {
        for (var i = 0; i < times; i++)
        {
            balancer.OnStart(id);
            balancer.OnComplete(id, TimeSpan.FromMilliseconds(milliseconds), success: true);
        }
    }

    public static BalancerMemberStatus Status(ILoadBalancer balancer, string id) => balancer.GetStatus().Single(s => s.Id == id);

    public static BalancerContext Key(int i) => new(string.Create(CultureInfo.InvariantCulture, $"key-{i}"));
}

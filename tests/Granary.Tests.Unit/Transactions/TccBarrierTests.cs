using Granary.Transactions;

namespace Granary.Tests.Unit.Transactions;

public sealed class TccBarrierTests
{
    [Fact]
    public void Action_then_compensation_runs_each_once()
    {
        var b = new TccBarrier();
        Assert.Equal(TccActionVerdict.Run, b.CheckAction("s:0"));
        b.ActionDone("s:0");
        Assert.Equal(TccActionVerdict.AlreadyDone, b.CheckAction("s:0"));
        Assert.Equal(TccCompensationVerdict.Run, b.CheckCompensation("s:0"));
        b.Compensated("s:0");
        Assert.Equal(TccCompensationVerdict.AlreadyCompensated, b.CheckCompensation("s:0"));
        Assert.Equal(TccActionVerdict.RefusedAfterCompensation, b.CheckAction("s:0"));
    }

    [Fact]
    public void Compensation_without_action_is_a_no_op_and_bars_the_late_action()
    {
        var b = new TccBarrier();
        Assert.Equal(TccCompensationVerdict.NoOpWithoutAction, b.CheckCompensation("s:1"));
        Assert.Equal(TccCompensationVerdict.AlreadyCompensated, b.CheckCompensation("s:1"));
        Assert.Equal(TccActionVerdict.RefusedAfterCompensation, b.CheckAction("s:1"));
        var restored = new TccBarrier(b.Steps);
        Assert.Equal(TccActionVerdict.RefusedAfterCompensation, restored.CheckAction("s:1"));
    }
}

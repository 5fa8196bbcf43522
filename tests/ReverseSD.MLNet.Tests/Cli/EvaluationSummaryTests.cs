using ReverseSD.Cli.Commands;

namespace ReverseSD.MLNet.Tests.Cli;

public sealed class EvaluationSummaryTests
{
    [Theory]
    [InlineData(0.0, "0.0000")]
    [InlineData(-1e-9, "0.0000")]
    [InlineData(-0.00001, "0.0000")]
    [InlineData(0.00004, "0.0000")]
    [InlineData(0.01234, "+0.0123")]
    [InlineData(-0.01236, "-0.0124")]
    [InlineData(double.NaN, "-")]
    public void DifferenceShowsItsSignAndAZeroWithoutOne(double value, string expected) =>
        Assert.Equal(expected, EvaluationSummary.Difference(value));
}

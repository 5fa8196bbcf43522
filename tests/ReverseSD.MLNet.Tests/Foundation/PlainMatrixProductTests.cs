namespace ReverseSD.MLNet.Tests.Foundation;

public sealed class PlainMatrixProductTests
{
    [Fact]
    public void TheRegisterPeakLoopDoesEveryMultiplyAddItCounts()
    {
        // Every chain in every lane runs a ← a·0.9999 + 0.00005 from a = 1; the sum over the 12 chains and the lanes must be
        // 12 × lanes × the scalar chain after exactly that many steps, so no multiply-add the peak counts was dropped.
        static float Scalar(int steps)
        {
            float a = 1f;
            for (int i = 0; i < steps; i++) a = MathF.FusedMultiplyAdd(a, 0.9999f, 5e-5f);
            return a;
        }
        int chains = 12 * PlainMatrixProduct.VectorLanes;

        float fromLoop = PlainMatrixProduct.FusedMultiplyAddChains(1000);

        Assert.Equal(chains * Scalar(1000), fromLoop, 1e-3f);
        Assert.NotEqual(chains * Scalar(999), fromLoop, 1e-3f);
    }

    [Fact]
    public void TheRegisterPeakIsMeasuredOnEveryThreadAsked()
    {
        double peak = PlainMatrixProduct.MeasureRegisterPeak(threads: 2, seconds: 0.05);

        Assert.True(double.IsFinite(peak) && peak > 0, $"peak {peak}");
        Assert.Throws<ArgumentOutOfRangeException>(() => PlainMatrixProduct.MeasureRegisterPeak(threads: 0));
    }
}

using ReverseSD.MLNet.Backbones;

namespace ReverseSD.MLNet.Tests.Backbones;

public sealed class ImagePreprocessingTests
{
    [Fact]
    public void CompactStringParsesEveryKeyAndRoundTripsThroughToString()
    {
        var spec = ImagePreprocessing.Parse("size=256x192,crop=center,order=bgr,layout=nchw,scale=1,mean=1;2;3,std=4;5;6,input=data,output=resnetv24_dense0_fwd");

        Assert.Equal(256, spec.Width);
        Assert.Equal(192, spec.Height);
        Assert.Equal(ImageResizeMode.CenterCrop, spec.Resize);
        Assert.Equal(ChannelOrder.Bgr, spec.Order);
        Assert.Equal(1f, spec.Scale);
        Assert.Equal([1f, 2f, 3f], spec.Mean);
        Assert.Equal([4f, 5f, 6f], spec.Std);
        Assert.Equal("data", spec.InputName);
        Assert.Equal("resnetv24_dense0_fwd", spec.OutputName);
        Assert.Equal(spec, ImagePreprocessing.Parse(spec.ToString()));
    }

    [Fact]
    public void LeftOutKeysKeepImageNetDefaults()
    {
        var spec = ImagePreprocessing.Parse("size=288,resize=pad");

        Assert.Equal(288, spec.Width);
        Assert.Equal(288, spec.Height);
        Assert.Equal(ImageResizeMode.Pad, spec.Resize);
        Assert.Equal([0.485f, 0.456f, 0.406f], spec.Mean);
        Assert.Equal([0.229f, 0.224f, 0.225f], spec.Std);
        Assert.Equal(1f / 255f, spec.Scale);
        Assert.Null(spec.InputName);
    }

    [Theory]
    [InlineData("size=abc", "size")]
    [InlineData("colour=red", "colour")]
    [InlineData("mean=1;2", "mean")]
    [InlineData("std=1;0;1", "std")]
    [InlineData("layout=nhwc", "nchw")]
    [InlineData("resize=zoom", "zoom")]
    [InlineData("size=224,scale", "key=value")]
    public void BadSpecsFailWithAMessageNamingTheKey(string spec, string expected)
    {
        var e = Assert.Throws<ReverseSdInputException>(() => ImagePreprocessing.Parse(spec));
        Assert.Contains(expected, e.Message);
    }

    [Fact]
    public void JsonFileGivesTheSameSpecAsTheCompactString()
    {
        using var dir = new TempDirectory();
        File.WriteAllText(dir.File("spec.json"),
            """{ "size": 256, "resize": "crop", "order": "rgb", "scale": 0.5, "mean": [0.5, 0.5, 0.5], "std": [0.5, 0.5, 0.5], "output": "pooled" }""");

        var fromJson = ImagePreprocessing.ParseOrLoad(dir.File("spec.json"));
        Assert.Equal(ImagePreprocessing.Parse("size=256,resize=crop,order=rgb,scale=0.5,mean=0.5,std=0.5,output=pooled"), fromJson);

        File.WriteAllText(dir.File("bad.json"), """{ "size": 256, "colour": "red" }""");
        Assert.Throws<ReverseSdInputException>(() => ImagePreprocessing.Load(dir.File("bad.json")));
    }
}

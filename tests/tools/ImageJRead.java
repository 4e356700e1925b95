// What ImageJ itself makes of image files: size, bit depth and the calibration it shows, as
// one JSON line per file. Run with `java -cp ij.jar ImageJRead.java FILE...` (no window).
import ij.ImagePlus;
import ij.io.Opener;
import ij.measure.Calibration;
import java.util.Locale;

public class ImageJRead {
    static String quoted(Object value) {
        String s = value == null ? "" : value.toString();
        return "\"" + s.replace("\\", "\\\\").replace("\"", "\\\"").replace("\n", "\\n")
                .replace("\r", "\\r").replace("\t", "\\t") + "\"";
    }

    public static void main(String[] args) {
        for (String path : args) {
            ImagePlus imp = new Opener().openImage(path);
            if (imp == null) {
                System.out.println("{\"path\": " + quoted(path) + ", \"error\": \"not opened\"}");
                continue;
            }
            Calibration cal = imp.getCalibration();
            System.out.println(String.format(Locale.ROOT,
                "{\"path\": %s, \"width\": %d, \"height\": %d, \"channels\": %d, \"bits\": %d, "
                + "\"unit\": %s, \"pixel_width\": %.10g, \"pixel_height\": %.10g, \"info\": %s}",
                quoted(path), imp.getWidth(), imp.getHeight(), imp.getNChannels(),
                imp.getBitDepth(), quoted(cal.getUnit()), cal.pixelWidth, cal.pixelHeight,
                quoted(imp.getProperty("Info"))));
        }
    }
}

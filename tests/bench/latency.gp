# SPDX-License-Identifier: MIT
# latency.gp: comparison 1's send latency percentiles (latency.dat, written
# by make bench) as latency.svg. gnuplot -e "dir='tests/bench'" latency.gp
if (!exists("dir")) dir = "tests/bench"
set terminal svg size 760,440 font "sans,11" background "white" noenhanced
set output dir."/latency.svg"
set title "ringside_send() vs rd_kafka_producev(): one call, 100 B, 1 thread, healthy brokers"
set xlabel "percentile"
set ylabel "latency (µs, log scale)"
set logscale y
set logscale x
set xtics ("50" 2, "90" 10, "99" 100, "99.9" 1000, "99.99" 10000, "99.999" 100000, "max" 1000000)
set grid
set key top left
plot dir."/latency.dat" using (1/(1-$1/100+1e-6)):2 with linespoints lw 2 title "librdkafka (in-process)", \
     dir."/latency.dat" using (1/(1-$1/100+1e-6)):3 with linespoints lw 2 title "ringside"
